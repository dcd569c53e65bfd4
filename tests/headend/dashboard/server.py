"""The API app served by a real uvicorn on a loopback port, for browsers and streaming clients.

The listening socket is bound before uvicorn starts, so clients can connect at once (the
kernel queues them) and no "has it started yet" wait is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from headend.service import listen_socket


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app``; yields its base URL. Shuts down when the block ends."""
    listener = listen_socket("127.0.0.1", 0)  # as `headend run` binds it (TCP_NODELAY)
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(server.serve(sockets=[listener]))
            try:
                yield f"http://127.0.0.1:{port}"
            finally:
                server.should_exit = True
    finally:
        listener.close()

"""Small async helpers shared by the transport tests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from transports import ByteTransport, ConnectionLost


async def run_together(*coroutines: Coroutine[Any, Any, Any]) -> None:
    """Run coroutines concurrently in a TaskGroup, in creation order."""
    async with asyncio.TaskGroup() as group:
        for coroutine in coroutines:
            group.create_task(coroutine)


async def read_until_lost(transport: ByteTransport) -> tuple[bytes, ConnectionLost]:
    """Everything read before the connection was lost, and the loss itself."""
    received = b""
    while True:
        try:
            received += await transport.read(100)
        except ConnectionLost as lost:
            return received, lost

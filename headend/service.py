"""The running head-end service: storage, engine and HTTP API in one TaskGroup.

Used by ``headend run`` (production, system clock) and ``headend demo`` (simulators and a warped
clock). Shutdown order matters: the engine stops first (reads in flight finish, its writer
flushes into the sink), then the API, then storage closes (the outbox drains what it can and
keeps the rest on disk for the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import uvicorn

from headend.api import ApiSettings, create_app, parse_api_settings
from headend.clock import Clock
from headend.collection.storage_setup import open_storage
from headend.config.fleet import FleetConfig
from headend.config.handoff import webhook_authorization
from headend.config.security import build_security_module
from headend.engine import Engine, EngineOptions
from headend.errors import HeadendError
from headend.incidents.notifier import webhooks_of
from storage.archive.store import ARCHIVE_FILE
from storage.kpi.store import KPI_FILE
from transports.memory import MemoryNetwork

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    data_dir: Path
    listen: str | None = None
    """Overrides ``[api] listen``."""
    clock: Clock | None = None
    memory: MemoryNetwork | None = None
    engine: EngineOptions | None = None


class DataLost(HeadendError):
    """The service stopped, and some readings or events it acquired were never stored."""

    def __init__(self, records: int, why: str) -> None:
        super().__init__(f"{records} records were not stored: {why}")
        self.records = records


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the service owns SIGINT/SIGTERM and stops the
    engine before the API, so reads in flight finish and buffers flush."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def api_settings(config: FleetConfig, environ: Mapping[str, str]) -> ApiSettings:
    return parse_api_settings(config.api, environ, config.source)


def listen_socket(host: str, port: int) -> socket.socket:
    """The API's listening socket, with ``TCP_NODELAY`` set: Linux copies it to every accepted
    connection, so a small response is not held back by Nagle's algorithm waiting for the
    client's delayed ACK (about 40 ms per keep-alive request otherwise)."""
    listener = socket.create_server((host, port), reuse_port=False)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return listener


def engine_options(config: FleetConfig, options: ServiceOptions) -> EngineOptions:
    """The engine's options: the caller's, with the fleet file's ``[anomaly]`` unless the
    caller already chose thresholds."""
    chosen = options.engine or EngineOptions(
        audit_path=options.data_dir / "audit.jsonl",
        fleet_overlay_path=options.data_dir / "fleet-overlay.json",
        block_support_path=options.data_dir / "block-reads.json",
        kpi_path=options.data_dir / KPI_FILE,
        archive_path=options.data_dir / ARCHIVE_FILE,
        handoff_dir=options.data_dir,
        terminal_events_path=options.data_dir / "terminal-events.json",
        incidents_dir=options.data_dir,
    )
    if config.anomaly is not None and chosen.anomaly is None:
        chosen = replace(chosen, anomaly=config.anomaly)
    return chosen


async def serve(
    config: FleetConfig,
    options: ServiceOptions,
    *,
    environ: Mapping[str, str] = os.environ,
    on_ready: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """Run until SIGINT/SIGTERM (or cancellation); ``on_ready`` gets the dashboard URL.

    Raises DataLost after a complete shutdown when records were dropped while storage refused
    writes or could not be written at stop, so that the exit status says so.
    """
    settings = api_settings(config, environ)
    webhooks = webhooks_of(config.notify, environ, config.source)
    security = None
    if config.security is not None:
        security = build_security_module(config.security, environ, config.source)
    handoff_authorization = None
    if config.handoff is not None:
        handoff_authorization = webhook_authorization(config.handoff, environ, config.source)
    host, port = settings.host, settings.port
    if options.listen is not None:
        host, _, port_text = options.listen.rpartition(":")
        port = int(port_text)
    async with open_storage(config.storage, config.source, data_dir=options.data_dir) as stack:
        log.info("storage: %s", stack.describe)
        chosen = replace(
            engine_options(config, options),
            writer_limits=stack.writer_limits,
            webhooks=webhooks,
        )
        if security is not None and chosen.security is None:
            chosen = replace(chosen, security=security)
        if handoff_authorization is not None and chosen.handoff_authorization is None:
            chosen = replace(chosen, handoff_authorization=handoff_authorization)
        engine = Engine(
            config,
            stack.sink,
            clock=options.clock,
            memory=options.memory,
            options=chosen,
            history=stack.billing,
        )
        app = create_app(
            engine,
            tokens=settings.tokens,
            store=stack.billing,
            outbox_stats=stack.outbox_stats,
            limits=settings.limits,
            data_dir=options.data_dir,
        )
        server = _QuietServer(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                timeout_graceful_shutdown=5,
                lifespan="off",
            )
        )
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        # Bind before serving: the port is taken (or the error raised) here, and a client that
        # connects before uvicorn's first accept simply waits in the listen backlog.
        listener = listen_socket(host, port)
        port = listener.getsockname()[1]
        try:
            async with asyncio.TaskGroup() as group:
                engine_task = group.create_task(engine.run(), name="engine")
                api_task = group.create_task(server.serve(sockets=[listener]), name="api")
                await engine.ready.wait()
                url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/"
                log.info("head-end running: %s", url)
                if on_ready is not None:
                    await on_ready(url)
                await stopping.wait()
                log.info("stopping")
                engine.stop()
                await engine_task
                server.should_exit = True
                await api_task
        finally:
            listener.close()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
    writer = engine.writer.stats
    if writer.lost:
        why = (
            f"{writer.dropped} dropped from the full writer buffer "
            f"({engine.writer.limits.overflow.value}), {writer.lost_at_stop} unwritten at stop; "
            f"last storage error: {writer.last_error or 'none'}"
        )
        log.error("stopped with data lost: %d records not stored: %s", writer.lost, why)
        raise DataLost(writer.lost, why)

"""One SQLite connection owned by one thread, driven from asyncio.

sqlite3 blocks; running it in the event loop would stall every bus worker during an fsync. A
single dedicated thread (not the shared default pool) keeps the connection single-threaded and
keeps statements in submission order, which the outbox relies on.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class SqliteThread:
    """Runs functions that take the connection on the connection's own thread."""

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        self._path = path
        self._synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{path.name}")
        self._connection: sqlite3.Connection | None = None

    @property
    def path(self) -> Path:
        """The database file (named in errors)."""
        return self._path

    async def open(self, schema: str) -> None:
        """Connect, switch to WAL and create the schema."""
        await self._submit(self._open_sync, schema)

    def _open_sync(self, schema: str) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={self._synchronous}")
        connection.executescript(schema)
        self._connection = connection

    async def run(self, function: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``function(connection)`` on the thread and return its result."""
        return await self.submit(function)

    def submit(self, function: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue ``function(connection)`` now and return its future without waiting.

        The job is queued before this returns (a coroutine would queue it only when first
        awaited), so jobs submitted one after the other run in that order on the thread.
        """
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, self._call, function)

    def _call(self, function: Callable[[sqlite3.Connection], T]) -> T:
        if self._connection is None:
            raise RuntimeError(f"SQLite database {self._path} is not open")
        return function(self._connection)

    async def _submit(self, function: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    async def close(self) -> None:
        """Close the connection and stop the thread."""
        if self._connection is not None:
            await self._submit(self._close_sync)
        self._executor.shutdown(wait=True)

    def _close_sync(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

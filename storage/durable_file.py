"""The one way our small SQLite files (archive, KPIs, the hand-off ledger) are opened and written.

They hold what an operator or a billing run was told is kept (an import that returned, a KPI
that was answered), so every one is WAL with ``synchronous=FULL`` (a committed transaction is
on disk), waits for a concurrent writer instead of failing at once, and writes in explicit
``BEGIN IMMEDIATE`` transactions that roll back whole on any error.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

BUSY_TIMEOUT_MS = 5000


def connect_durable(path: Path) -> sqlite3.Connection:
    """Open (creating its folder) in autocommit mode with the durability pragmas set."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except sqlite3.Error:
        db.close()
        raise
    return db


def connect_versioned(
    path: Path, schema: str, version: int, *, what: str, error: type[Exception]
) -> sqlite3.Connection:
    """``connect_durable`` for a file whose schema only grows (``CREATE ... IF NOT EXISTS``):
    a file a newer head-end wrote is refused rather than written with an older schema, and
    every failure is one ``error`` naming the file and ``what`` it is."""
    try:
        db = connect_durable(path)
    except sqlite3.Error as exc:
        raise error(f"{path}: cannot open the {what}: {exc}") from exc
    try:
        found = int(db.execute("PRAGMA user_version").fetchone()[0])
        if found > version:
            raise error(f"{path}: {what} version {found} is newer than this head-end's {version}")
        db.executescript(schema)
        db.execute(f"PRAGMA user_version = {version}")
    except sqlite3.Error as exc:
        db.close()
        raise error(f"{path}: cannot open the {what}: {exc}") from exc
    except error:
        db.close()
        raise
    return db


class DurableFile:
    """Base of a store on one such file: closing, ``with``, and whole transactions."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

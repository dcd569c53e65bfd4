"""The meter archive as the KPI and export routes read it: optional, read per request.

Why per request: the archive is changed by ``headend archive import`` in another process while
the head-end runs, and a few thousand rows read from a local SQLite file cost milliseconds. No
archive file (the site has not imported one) is an empty archive: the fleet file's labels stand.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage.archive.records import ArchiveMeter, MeterExchange
from storage.archive.store import ARCHIVE_FILE, ArchiveStore, load_archive


async def archive_meters(data_dir: Path | None) -> dict[str, ArchiveMeter]:
    """The archive's meters by id; empty without a data dir or an archive file."""
    if data_dir is None:
        return {}
    path = data_dir / ARCHIVE_FILE
    if not path.exists():
        return {}
    meters = await asyncio.to_thread(load_archive, path)
    return {meter.id: meter for meter in meters}


def _exchanges_of(path: Path) -> list[MeterExchange]:
    with ArchiveStore.open(path) as archive:
        return archive.exchanges()


async def archive_exchanges(data_dir: Path | None) -> list[MeterExchange]:
    """The archive's meter exchanges, oldest first; none without a data dir or an archive."""
    if data_dir is None:
        return []
    path = data_dir / ARCHIVE_FILE
    if not path.exists():  # a GET does not create the file
        return []
    return await asyncio.to_thread(_exchanges_of, path)

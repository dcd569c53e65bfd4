"""The meter archive as the KPI and export routes read it: optional, read per request.

Why per request: the archive is changed by ``headend archive import`` in another process while
the head-end runs, and a few thousand rows read from a local SQLite file cost milliseconds. No
archive file (the site has not imported one) is an empty archive: the fleet file's labels stand.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage.archive.records import ArchiveMeter
from storage.archive.store import ARCHIVE_FILE, load_archive


async def archive_meters(data_dir: Path | None) -> dict[str, ArchiveMeter]:
    """The archive's meters by id; empty without a data dir or an archive file."""
    if data_dir is None:
        return {}
    path = data_dir / ARCHIVE_FILE
    if not path.exists():
        return {}
    meters = await asyncio.to_thread(load_archive, path)
    return {meter.id: meter for meter in meters}

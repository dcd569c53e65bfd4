"""``headend simulate --write-archive CSV``: the simulated meters as a meter archive file.

Why through the archive's own parser: the rows the simulator derives from its scenario are
validated exactly as a billing office's file is (``storage.archive.sheet.meters_of_rows``)
and written with the same columns, so the demo and the system tests import the very file an
operator would, and a scenario the archive cannot hold fails here, by row and column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from headend.cli.errors import CommandFailed, ExitCode


def write_archive_rows(rows: Sequence[Mapping[str, Any]], path: Path) -> str:
    """Validate ``rows`` as archive rows and write them to ``path`` (CSV or XLSX by its
    name); returns the line ``headend simulate`` prints."""
    from storage.archive.sheet import meters_of_rows, write_meters
    from storage.errors import ArchiveError

    try:
        meters = meters_of_rows(rows, f"--write-archive {path}")
        count = write_meters(path, meters, "xlsx" if path.suffix == ".xlsx" else "csv")
    except ArchiveError as exc:
        raise CommandFailed(ExitCode.USAGE, str(exc)) from None
    return f"meter archive {path}: {count} meters (headend archive import {path})"

"""A file that appears whole or not at all, and stays after a power cut.

A billing system picking up the hand-off folder must never read half a file, and a hand-off the
ledger records as written must be on disk: so write a hidden temporary file in the same folder,
fsync it, rename it over the name (atomic on POSIX), then fsync the folder so the rename itself
is durable. A reader that lists the folder ignores names starting with a dot.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


@contextmanager
def open_atomic(path: Path) -> Iterator[TextIO]:
    """A text stream (UTF-8, newlines as written) that becomes ``path`` when the block ends
    without an error, durably; on an error the temporary file is removed and ``path`` is as
    it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    try:
        with temp.open("w", encoding="utf-8", newline="") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_folder(path.parent)


def write_atomically(path: Path, write: Callable[[TextIO], None]) -> None:
    """Create ``path`` from what ``write`` writes to its text stream."""
    with open_atomic(path) as out:
        write(out)


def fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

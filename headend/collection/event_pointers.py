"""How far the master has read each concentrator's event rings, kept in the data dir.

A concentrator numbers its event records 0..255 round each of its two rings (AFN 0E F1
important, F2 normal) and says in EC how many it has logged. The master reads the records
between its own pointer and EC after each login. Kept in memory only, a restart would start
every pointer at 0 and raise every record the terminal holds again; so each pointer is written
to ``terminal-events.json`` (atomically: temp file, fsync, rename, fsync of the directory), and
only once the alarms of the records it passes are stored: a crash in between reads them again
(the alarm book recognises them within one run), it never skips them.

A pointer moves only over a range that starts at or behind it (``advance``): the records of a
push arriving ahead of a gap leave it where it is, so the gap is read at the next login.
Keyed by the terminal's address (the identity it logs in with), so renaming a terminal in the
fleet file keeps its pointers. The file is written on the event loop: it changes when a
terminal logs in or pushes an event, a few times a day per terminal, and a write handed to a
thread could land after a later one. A file that cannot be read (hand-edited, torn by a disk
fault) is logged naming the file and the entry, counted, and ignored: the pointers start at 0
and the records are read again (repeated alarms, not lost ones). A write that fails is logged
and counted and tried again at the next move.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from headend.collection.overlay import write_atomically

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
RING = 256
"""Records a ring holds: record numbers and EC are 0..255."""
RINGS = (1, 2)
"""The AFN 0E Fn of the two rings."""


class EventPointers:
    def __init__(self, path: Path | None = None) -> None:
        """``path`` None: in memory only (tests, a head-end without a data dir)."""
        self.path = path
        self.unreadable = 0
        """Times the file could not be read at start (its pointers were then ignored)."""
        self.write_failures = 0
        self._pointers: dict[tuple[str, int], int] = {}
        if path is not None and path.exists():
            self._load(path)

    def get(self, terminal: str, fn: int) -> int:
        """The next record number to read from ring ``fn`` of the terminal at ``terminal``."""
        return self._pointers.get((terminal, fn), 0)

    def items(self) -> dict[tuple[str, int], int]:
        return dict(self._pointers)

    def advance(self, terminal: str, fn: int, start: int, end: int) -> bool:
        """Records ``start`` .. ``end`` - 1 are handled: move the pointer to ``end`` when the
        range covers it (round the ring), and keep that on disk. Returns whether it moved."""
        pointer = self.get(terminal, fn)
        length = (end - start) % RING
        behind = (pointer - start) % RING
        if length == 0 or behind >= length:
            return False  # the range ends at or before the pointer, or starts past a gap
        self._pointers[(terminal, fn)] = end % RING
        self._save()
        return True

    def _save(self) -> None:
        if self.path is None:
            return
        terminals: dict[str, dict[str, int]] = {}
        for (terminal, fn), pointer in sorted(self._pointers.items()):
            terminals.setdefault(terminal, {})[str(fn)] = pointer
        text = json.dumps({"version": FORMAT_VERSION, "terminals": terminals}, indent=1)
        try:
            write_atomically(self.path, text + "\n")
        except OSError as exc:
            self.write_failures += 1
            log.warning(
                "%s: event pointers not saved (a restart reads those events again): %s",
                self.path,
                exc,
            )

    def _load(self, path: Path) -> None:
        try:
            self._pointers = _parse(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            self.unreadable += 1
            self._pointers = {}
            log.warning(
                "%s: unreadable, ignored (every terminal's events are read from record 0 "
                "again): %s",
                path,
                exc,
            )


def _parse(document: object) -> dict[tuple[str, int], int]:
    """The pointers of the file's document; ``ValueError`` naming the entry at fault."""
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise ValueError(f"expected an object with version {FORMAT_VERSION}")
    terminals = document.get("terminals")
    if not isinstance(terminals, dict):
        raise ValueError("terminals: expected an object of terminal address -> rings")
    pointers: dict[tuple[str, int], int] = {}
    for terminal, rings in terminals.items():
        if not isinstance(rings, dict):
            raise ValueError(f"terminals.{terminal}: expected an object of Fn -> record number")
        for fn, pointer in rings.items():
            if fn not in {str(r) for r in RINGS}:
                raise ValueError(f"terminals.{terminal}.{fn}: not a ring (1 or 2)")
            if not isinstance(pointer, int) or isinstance(pointer, bool) or not 0 <= pointer < RING:
                raise ValueError(f"terminals.{terminal}.{fn}: expected 0..255, got {pointer!r}")
            pointers[(terminal, int(fn))] = pointer
    return pointers

"""The learned block-read support of every meter, kept in the data dir (``block-reads.json``).

Only refusals are kept (a block a meter answers needs no memory: the plan asks for it anyway),
written atomically like the fleet overlay (``headend.collection.overlay.write_atomically``).
A first round over 100,000 meters learns a refusal per refusing meter and block: each is not
a rewrite of the file on the event loop, but marks it due, and ``CoalescedSave`` writes it at
most every few seconds in a thread, and once more at stop. A write that fails (a full disk) is
logged and counted, and tried again with the next change: what was learned is only a cache,
and the reads it serves must not fail with it. The file is a cache of what meters did:
one that cannot be read (hand-edited, from a newer version) is reported with its path and
the entry at fault, and collection starts from an empty book (the meters teach it again at a
cost of one refused exchange per block), instead of refusing to start.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from pathlib import Path

from headend.collection.overlay import write_atomically
from headend.drivers.block_support import BlockSupport, BlockSupportBook, Entries
from headend.errors import HeadendError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


class BlockSupportFileError(HeadendError, ValueError):
    """Why the file cannot be read, naming the file and the entry."""


SAVE_INTERVAL = 5.0
"""Seconds between two writes of the file while meters teach the book (a first round)."""


class CoalescedSave:
    """The book's ``save``: marks the file due and writes it later, off the event loop."""

    def __init__(self, path: Path, interval: float = SAVE_INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self.failures = 0
        """Writes that failed (logged with the path and the reason)."""
        self._due: Entries | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Task[None] | None = None

    def __call__(self, entries: Entries) -> None:
        self._due = entries
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a tool, a test): nothing to keep free, write now
            self._write(self._snapshot())
            return
        if self._timer is None and self._writing is None:
            self._timer = loop.call_later(self.interval, self._start)

    def _start(self) -> None:
        self._timer = None
        self._writing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._due is not None:
                snapshot = self._snapshot()  # on the loop: the book changes only there
                await asyncio.to_thread(self._write, snapshot)
        finally:
            self._writing = None

    def _snapshot(self) -> dict[str, dict[str, BlockSupport]]:
        entries, self._due = self._due or {}, None
        return {meter: dict(blocks) for meter, blocks in entries.items()}

    def _write(self, entries: Entries) -> None:
        try:
            save(self.path, entries)
        except OSError as exc:
            self.failures += 1
            log.warning(
                "%s: cannot save learned block support (%s); kept in memory", self.path, exc
            )

    async def aclose(self) -> None:
        """Write what is still due (at stop)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._writing is not None:
            await self._writing
        if self._due is not None:
            await self._flush()


def open_book(path: Path | None) -> tuple[BlockSupportBook, CoalescedSave | None]:
    """The book saved at ``path``, and what saves it (None: in memory only, for tests and the
    demo)."""
    if path is None:
        return BlockSupportBook(), None
    entries: Entries = {}
    if path.exists():
        try:
            entries = _parse(json.loads(path.read_text(encoding="utf-8")), str(path))
        except (OSError, ValueError) as exc:  # JSONDecodeError and ours are ValueErrors
            log.warning("%s: cannot read learned block support (%s); learning it again", path, exc)
    saver = CoalescedSave(path)
    return BlockSupportBook(entries, save=saver), saver


def save(path: Path, entries: Entries) -> None:
    """Write the refusals of ``entries`` (the blocks meters answer are not kept)."""
    refusals = {
        meter: {block: s for block, s in blocks.items() if not s.supported}
        for meter, blocks in entries.items()
    }
    document = {
        "version": FORMAT_VERSION,
        "meters": {
            meter: {block: {"supported": s.supported, "why": s.why} for block, s in blocks.items()}
            for meter, blocks in sorted(refusals.items())
            if blocks
        },
    }
    write_atomically(path, json.dumps(document, ensure_ascii=False, indent=1) + "\n")


def _parse(document: object, where: str) -> Entries:
    if not isinstance(document, Mapping) or document.get("version") != FORMAT_VERSION:
        raise BlockSupportFileError(f"{where}: expected version {FORMAT_VERSION}")
    meters = document.get("meters")
    if not isinstance(meters, Mapping):
        raise BlockSupportFileError(f"{where}: 'meters' must be an object")
    entries: dict[str, dict[str, BlockSupport]] = {}
    for meter, blocks in meters.items():
        if not isinstance(blocks, Mapping):
            raise BlockSupportFileError(f"{where}: meters.{meter}: must be an object")
        parsed: dict[str, BlockSupport] = {}
        for block, entry in blocks.items():
            at = f"{where}: meters.{meter}.{block}"
            if not isinstance(entry, Mapping):
                raise BlockSupportFileError(f"{at}: must be an object")
            supported, why = entry.get("supported"), entry.get("why", "")
            if not isinstance(supported, bool) or not isinstance(why, str):
                raise BlockSupportFileError(f"{at}: needs 'supported' (bool) and 'why' (text)")
            parsed[block] = BlockSupport(supported, why)
        entries[meter] = parsed
    return entries

"""The learned block-read support of every meter, kept in the data dir (``block-reads.json``).

Written atomically like the fleet overlay (``headend.collection.overlay.write_atomically``)
whenever a meter is found to answer or refuse a block. The file is a cache of what meters did:
one that cannot be read (hand-edited, from a newer version) is reported with its path and
the entry at fault, and collection starts from an empty book (the meters teach it again at a
cost of one refused exchange per block), instead of refusing to start.
"""

from __future__ import annotations

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


def open_book(path: Path | None) -> BlockSupportBook:
    """The book saved at ``path`` (None: in memory only, for tests and the demo)."""
    if path is None:
        return BlockSupportBook()
    entries: Entries = {}
    if path.exists():
        try:
            entries = _parse(json.loads(path.read_text(encoding="utf-8")), str(path))
        except (OSError, ValueError) as exc:  # JSONDecodeError and ours are ValueErrors
            log.warning("%s: cannot read learned block support (%s); learning it again", path, exc)
    return BlockSupportBook(entries, save=lambda book: save(path, book))


def save(path: Path, entries: Entries) -> None:
    document = {
        "version": FORMAT_VERSION,
        "meters": {
            meter: {block: {"supported": s.supported, "why": s.why} for block, s in blocks.items()}
            for meter, blocks in sorted(entries.items())
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

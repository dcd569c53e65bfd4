"""Which block reads each meter has answered or refused, learned while collecting.

Many DL/T 645 meters refuse a block read (``0201FF00``: all voltages in one exchange) with an
error word, an empty reply or silence, while every single item reads fine. A reader that finds
this falls back to single items and writes it down here, so the next round plans single items
for that meter at once instead of paying a refused exchange every slot. The book is per meter
id and block identifier; ``save`` (the engine's, ``headend.collection.block_support_file``)
keeps it in the data dir so a restart does not learn it all again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class BlockSupport:
    supported: bool
    why: str = ""
    """What the meter did when it was found not to support the block (the API shows it)."""


Entries = Mapping[str, Mapping[str, BlockSupport]]
"""meter id -> block identifier label (``0201FF00``) -> what was learned."""

_NONE: frozenset[str] = frozenset()


class BlockSupportBook:
    def __init__(
        self,
        entries: Entries | None = None,
        save: Callable[[Entries], None] | None = None,
        *,
        probe: bool = True,
    ) -> None:
        """``probe=False``: a throwaway book (a read without one), which never probes since
        it cannot remember having done so."""
        self._entries: dict[str, dict[str, BlockSupport]] = {
            meter: dict(blocks) for meter, blocks in (entries or {}).items()
        }
        self._save = save
        self._refused: dict[str, frozenset[str]] = {}
        self._probed: set[tuple[str, str]] = set()
        self._probe = probe

    def of_meter(self, meter_id: str) -> Mapping[str, BlockSupport]:
        return MappingProxyType(self._entries.get(meter_id, {}))

    def entries(self) -> Entries:
        return MappingProxyType({m: MappingProxyType(b) for m, b in self._entries.items()})

    def refused(self, meter_id: str) -> frozenset[str]:
        """The blocks this meter is known to refuse (the reader plans their members singly)."""
        found = self._refused.get(meter_id)
        if found is None:
            blocks = self._entries.get(meter_id)
            found = _NONE
            if blocks:
                found = frozenset(label for label, s in blocks.items() if not s.supported)
            self._refused[meter_id] = found
        return found

    def known(self, meter_id: str, block: str) -> BlockSupport | None:
        blocks = self._entries.get(meter_id)
        return None if blocks is None else blocks.get(block)

    def learn(self, meter_id: str, block: str, support: BlockSupport) -> None:
        """Write down what the meter did; saved only when it changes what the meter is known
        to refuse (a block answered is kept in memory, for the API: saving every meter's first
        good block read would rewrite the file once per meter)."""
        blocks = self._entries.setdefault(meter_id, {})
        before = blocks.get(block)
        if before == support:
            return
        blocks[block] = support
        self._refused.pop(meter_id, None)
        was_refused = before is not None and not before.supported
        if self._save is not None and (was_refused or not support.supported):
            self._save(self.entries())

    def forget(self, meter_id: str) -> None:
        """A meter changed or left the fleet (a new address may be a new meter model): what
        was learned of it is dropped, and costs one refused exchange per block to learn again."""
        blocks = self._entries.pop(meter_id, None)
        if blocks is not None:
            self._refused.pop(meter_id, None)
            if self._save is not None and any(not s.supported for s in blocks.values()):
                self._save(self.entries())

    def may_probe(self, meter_id: str, block: str) -> bool:
        """Whether a block that timed out may be followed by a single item to tell a silent
        refusal from a meter that is not there: once per meter and block while running, so a
        dead meter costs one extra timeout, not one per slot. Not saved: a restart asks again."""
        if not self._probe or (meter_id, block) in self._probed:
            return False
        if self.known(meter_id, block) is not None:
            return False
        self._probed.add((meter_id, block))
        return True

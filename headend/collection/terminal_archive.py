"""Meter archive reconciliation (档案核对): does the terminal read the meters the fleet says?

A concentrator reads the meters of its own archive (AFN 04 F10), by measurement point. If its
archive and the fleet file disagree (a meter replaced on site, a pn typed wrong at
commissioning), its F161 for that pn is some other meter's energy, billed to ours. So after
each login the master reads the archive records of the fleet's points back (AFN 0A F10, by
record number = pn, as commissioning tools number them) and reports each difference; the pull
goes on (the operator decides, nothing is rewritten behind their back).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from headend.config.terminals import ConcentratorConfig, MasterConfig
from headend.terminals import TerminalSession

ARCHIVE_ITEM = 10
"""AFN 04 / 0A F10: terminal meter archive (终端电能表/交流采样装置配置参数)."""
RECORDS_PER_REQUEST = 32
"""27 bytes a record: a reply of 32 stays under 900 bytes."""


@dataclass(frozen=True, slots=True)
class ArchiveDifference:
    terminal: str
    pn: int
    meter: str
    problem: str

    def __str__(self) -> str:
        return f"terminal {self.terminal} pn {self.pn} (meter {self.meter}): {self.problem}"


async def reconcile_archive(
    session: TerminalSession, terminal: ConcentratorConfig, master: MasterConfig
) -> list[ArchiveDifference]:
    """The differences between the terminal's archive and ``terminal.meters``."""
    differences: list[ArchiveDifference] = []
    meters = list(terminal.meters)
    for at in range(0, len(meters), RECORDS_PER_REQUEST):
        chunk = meters[at : at + RECORDS_PER_REQUEST]
        points = [m.pn for m in chunk]
        reply = await session.request(
            0x0A,
            [(0, ARCHIVE_ITEM, {"count": len(points), "seqs": points})],
            reply_timeout=master.reply_timeout,
            retries=master.retries,
        )
        records: Sequence[dict[str, object]] = ()
        if not reply.denied:
            records = [
                record
                for unit in reply.units
                if unit.item == ARCHIVE_ITEM
                for record in unit.values.get("meters", ())
            ]
        by_point = {record.get("point"): record for record in records}
        for meter in chunk:
            record = by_point.get(meter.pn)
            if record is None:
                problem = "not in the terminal's archive: it does not read this meter"
            elif meter.address is not None and record.get("address") != meter.address:
                problem = (
                    f"the terminal's archive has meter address {record.get('address')}, the "
                    f"fleet file {meter.address}"
                )
            else:
                continue
            differences.append(ArchiveDifference(terminal.name, meter.pn, meter.id, problem))
    return differences

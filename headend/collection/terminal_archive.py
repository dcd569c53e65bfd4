"""Meter archive reconciliation (档案核对): does the terminal read the meters the fleet says?

A concentrator reads the meters of its own archive (AFN 04 F10), by measurement point. If its
archive and the fleet file disagree (a meter replaced on site, a pn typed wrong at
commissioning), its F161 for that pn is some other meter's energy, billed to ours. So after
each login the master reads the archive records of the fleet's points back (AFN 0A F10, by
record number = pn, as commissioning tools number them) and reports each difference; the pull
goes on. With ``[master] push_archive`` the fleet's records of the differing points are
written to the terminal (AFN 04 F10) and read back once more: what still differs (the terminal
denied the write, a meter without an address in the fleet file) stays reported. Without it
nothing is rewritten behind the operator's back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from headend.config.terminals import ConcentratorConfig, MasterConfig, TerminalMeterConfig
from headend.terminals import TerminalSession

log = logging.getLogger(__name__)

ARCHIVE_ITEM = 10
"""AFN 04 / 0A F10: terminal meter archive (终端电能表/交流采样装置配置参数)."""
RECORDS_PER_REQUEST = 32
"""27 bytes a record: a reply of 32 stays under 900 bytes."""
DLT645_2007 = 30
"""Communication protocol type of a record (附录: 30 = DL/T 645-2007)."""
PORT_RS485_2400 = 0x62
"""Baud 2400 (D7..D5 = 3) on port 2, as the simulated and published archives carry."""


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
    return await _compare(session, terminal, master, list(terminal.meters))


async def _compare(
    session: TerminalSession,
    terminal: ConcentratorConfig,
    master: MasterConfig,
    meters: Sequence[TerminalMeterConfig],
) -> list[ArchiveDifference]:
    differences: list[ArchiveDifference] = []
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


@dataclass(frozen=True, slots=True)
class ArchiveSync:
    found: list[ArchiveDifference]
    """What the first read-back showed."""
    pushed: list[int]
    """Points whose fleet record the terminal accepted (AFN 04 F10 confirmed)."""
    remaining: list[ArchiveDifference]
    """What still differs after the push (all of ``found`` when nothing was pushed)."""


async def sync_archive(
    session: TerminalSession, terminal: ConcentratorConfig, master: MasterConfig
) -> ArchiveSync:
    """Read back, push the fleet's records of the differing points, read those back again."""
    found = await reconcile_archive(session, terminal, master)
    if not master.push_archive or not found:
        return ArchiveSync(found, [], found)
    by_point = {m.pn: m for m in terminal.meters}
    writable = [by_point[d.pn] for d in found if by_point[d.pn].address is not None]
    pushed: list[int] = []
    for at in range(0, len(writable), RECORDS_PER_REQUEST):
        chunk = writable[at : at + RECORDS_PER_REQUEST]
        records = [archive_record(meter) for meter in chunk]
        reply = await session.request(
            0x04,
            [(0, ARCHIVE_ITEM, {"count": len(records), "meters": records})],
            reply_timeout=master.reply_timeout,
            retries=master.retries,
        )
        if reply.denied:
            log.warning(
                "terminal %s denied the meter archive of pn %s (AFN 04 F10)",
                terminal.name,
                ", ".join(str(m.pn) for m in chunk),
            )
            continue
        pushed.extend(m.pn for m in chunk)
        log.warning(
            "terminal %s: meter archive of pn %s written from the fleet file",
            terminal.name,
            ", ".join(str(m.pn) for m in chunk),
        )
    checked = {d.pn for d in found}
    remaining = await _compare(
        session, terminal, master, [m for m in terminal.meters if m.pn in checked]
    )
    return ArchiveSync(found, pushed, remaining)


def archive_record(meter: TerminalMeterConfig) -> dict[str, Any]:
    """The AFN 04 F10 record of ``meter``: record number = pn, as the read-back asks."""
    return {
        "seq": meter.pn,
        "point": meter.pn,
        "baud_and_port": PORT_RS485_2400,
        "protocol": DLT645_2007,
        "address": meter.address,
        "password": "000000000000",
        "tariffs": 4,
        "digits": 0x09,
        "collector": "000000000000",
        "user_class": 0x51,
    }

"""Application messages: a frame's data units decoded by AFN and Fn, and the master's frames.

``parse_units`` walks ``Frame.body``: a unit identifier, then the data of each (pn, Fn) pair
it names, in order, each by its layout in ``catalogue``. A unit without a layout keeps the rest
of the body raw (its length is unknown); surplus or missing bytes are ``UnexpectedMessage``.
The builders make every downlink frame a master sends (and the terminal's login and heartbeat,
for simulators), with the control byte and SEQ the standard gives each AFN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from protocols.gdw1376.address import Address
from protocols.gdw1376.aux import PW_LENGTH, EventCounter, TimeLabel, carries_pw
from protocols.gdw1376.catalogue import layout_of
from protocols.gdw1376.control import Control, PrimaryFunction, SecondaryFunction
from protocols.gdw1376.errors import EncodeError, UnexpectedMessage
from protocols.gdw1376.frame import Frame
from protocols.gdw1376.layout import write
from protocols.gdw1376.reader import Reader, compile_layout
from protocols.gdw1376.seq import Seq
from protocols.gdw1376.units import (
    UNIT_ID_LENGTH,
    UnitId,
    decode_items,
    decode_points,
    group_units,
)


@dataclass(frozen=True, slots=True)
class DataUnit:
    point: int
    """pn (0: the terminal)."""
    item: int
    """Fn."""
    values: Mapping[str, Any] = field(default_factory=dict)
    raw: bytes = b""
    """The unit's data bytes as sent."""
    decoded: bool = True
    """False if the codec has no layout for this (AFN, Fn, direction): ``raw`` holds the rest
    of the body."""


def parse_units(frame: Frame) -> list[DataUnit]:
    """The data units of ``frame``; raises ``UnexpectedMessage`` if they do not fit."""
    body, up, afn = frame.body, frame.control.up, frame.afn
    units: list[DataUnit] = []
    at = 0
    while at < len(body):
        if at + UNIT_ID_LENGTH > len(body):
            raise UnexpectedMessage(
                f"AFN {afn:02X}H: {len(body) - at} byte(s) after the last data unit at offset "
                f"{at}, too few for a unit identifier: {body[at:].hex(' ')}"
            )
        raw_id = body[at : at + UNIT_ID_LENGTH]
        points = decode_points(raw_id[0], raw_id[1])
        items = decode_items(raw_id[2], raw_id[3])
        if not points or not items:
            raise UnexpectedMessage(
                f"AFN {afn:02X}H: unit identifier {raw_id.hex(' ')} at offset {at} names no "
                "point or no item"
            )
        at += UNIT_ID_LENGTH
        for point, item in ((point, item) for point in points for item in items):
            where = f"AFN {afn:02X}H p{point} F{item}"
            reader = _reader_of(afn, item, up)
            if reader is None:
                units.append(DataUnit(point, item, {}, bytes(body[at:]), decoded=False))
                return units
            values, end = reader(body, at, where)
            units.append(DataUnit(point, item, values, bytes(body[at:end])))
            at = end
    return units


_READERS: dict[tuple[int, int, bool], Reader | None] = {}
"""(AFN, Fn, up) -> its layout compiled, on first use (``catalogue`` may grow at import)."""


def _reader_of(afn: int, item: int, up: bool) -> Reader | None:
    key = (afn, item, up)
    try:
        return _READERS[key]
    except KeyError:
        layout = layout_of(afn, item, up)
        reader = _READERS[key] = None if layout is None else compile_layout(layout)
        return reader


# --- building frames --------------------------------------------------------------------

NO_PW = bytes(PW_LENGTH)
"""The PW of terminals that do not check it (all zero, as the published frames send)."""

_REQUEST_FUNCTION = {
    0x01: PrimaryFunction.RESET,
    0x04: PrimaryFunction.REQUEST_CLASS_1,
    0x05: PrimaryFunction.REQUEST_CLASS_1,
}
"""The C function a master's request of each AFN carries; the others ask for class 2 data
(11), as every published master frame does."""

UnitSpec = tuple[int, int, Mapping[str, Any]]
"""(pn, Fn, values) of one data unit to send."""


def build_body(afn: int, up: bool, units: Iterable[UnitSpec]) -> bytes:
    specs = list(units)
    by_pair = {(point, item): values for point, item, values in specs}
    # A day's pull asks 64 points for one Td_d: units that share one values mapping (the same
    # object) are encoded once, which was a fifth of the master's CPU per request.
    encoded: dict[tuple[int, int], bytes] = {}
    body = bytearray()
    for unit_id in group_units((point, item) for point, item, _ in specs):
        body += unit_id.to_wire()
        for point, item in unit_id.pairs():
            values = by_pair[(point, item)]
            data = encoded.get((item, id(values)))
            if data is None:
                layout = layout_of(afn, item, up)
                if layout is None:
                    raise EncodeError(f"AFN {afn:02X}H F{item}: no layout to encode its data")
                data = write(layout, values, f"AFN {afn:02X}H p{point} F{item}")
                encoded[(item, id(values))] = data
            body += data
    return bytes(body)


def request(
    terminal: Address,
    afn: int,
    units: Iterable[UnitSpec],
    *,
    seq: int,
    master: int = 1,
    pw: bytes = NO_PW,
    tp: TimeLabel | None = None,
    confirm: bool = False,
) -> Frame:
    """A master's downlink request of ``afn`` to ``terminal``."""
    function = _REQUEST_FUNCTION.get(afn, PrimaryFunction.REQUEST_CLASS_2)
    return Frame(
        Control(up=False, primary=True, function=function),
        terminal.with_master(master),
        afn,
        Seq(seq, confirm=confirm, tpv=tp is not None),
        build_body(afn, False, units),
        pw=pw if carries_pw(False, afn) else None,
        tp=tp,
    )


def _reply_function(received: Frame) -> int:
    # Link tests are confirmed with "link status", every source's master does (C = 0BH).
    if received.afn == 0x02:
        return SecondaryFunction.LINK_STATUS
    return SecondaryFunction.CONFIRM


def confirm_all(received: Frame, *, master: int = 1, deny: bool = False) -> Frame:
    """AFN 00 F1 (or F2, ``deny``) for a terminal's frame: login, heartbeat, pushed events."""
    return Frame(
        Control(up=False, primary=False, function=_reply_function(received)),
        received.address.with_master(master),
        0x00,
        Seq(received.seq.number),
        UnitId((0,), (2 if deny else 1,)).to_wire(),
    )


def confirm_units(
    received: Frame, results: Sequence[tuple[UnitId, bool]], *, master: int = 1
) -> Frame:
    """AFN 00 F3: confirm or deny each unit of ``received`` (True: confirmed)."""
    values = {
        "afn": received.afn,
        "units": [{"unit": unit.to_wire().hex(), "error": 0 if ok else 1} for unit, ok in results],
    }
    return Frame(
        Control(up=False, primary=False, function=_reply_function(received)),
        received.address.with_master(master),
        0x00,
        Seq(received.seq.number),
        build_body(0x00, False, [(0, 3, values)]),
    )


def link_test(terminal: Address, fn: int, *, seq: int, ec: EventCounter | None = None) -> Frame:
    """A terminal's AFN 02 F1 login, F2 logout or F3 heartbeat (for simulators)."""
    if fn not in (1, 2, 3):
        raise EncodeError(f"AFN 02H F{fn}: link tests are F1 login, F2 logout, F3 heartbeat")
    return Frame(
        Control(up=True, primary=True, function=PrimaryFunction.LINK_TEST, fcb_acd=ec is not None),
        terminal.with_master(0),
        0x02,
        Seq(seq, confirm=True),
        UnitId((0,), (fn,)).to_wire(),
        ec=ec,
    )


# Convenience builders for what the master asks most; each is ``request`` with its units.


def read_current(terminal: Address, pairs: Iterable[tuple[int, int]], *, seq: int) -> Frame:
    """AFN 0C for (pn, Fn) pairs: clock F2, reading status F11, F25, F33, F129, F161..."""
    return request(terminal, 0x0C, [(point, item, {}) for point, item in pairs], seq=seq)


def read_daily(terminal: Address, points: Iterable[int], fn: int, day: date, *, seq: int) -> Frame:
    """AFN 0D daily frozen values (F161 forward, F163 reverse, F1, F2) of ``day`` (Td_d)."""
    values = {"td_d": day}
    return request(terminal, 0x0D, [(p, fn, values) for p in points], seq=seq)


def read_monthly(
    terminal: Address, points: Iterable[int], fn: int, month: date, *, seq: int
) -> Frame:
    """AFN 0D monthly frozen values (F177, F17, F18) of ``month``'s month (Td_m)."""
    values = {"td_m": month}
    return request(terminal, 0x0D, [(p, fn, values) for p in points], seq=seq)


def read_curve(
    terminal: Address, point: int, fn: int, start: datetime, density: int, count: int, *, seq: int
) -> Frame:
    """AFN 0D curve F81..F108 from ``start``, ``count`` points at ``density`` (appendix C)."""
    values = {"td_c_start": start, "td_c_density": density, "td_c_points": count}
    return request(terminal, 0x0D, [(point, fn, values)], seq=seq)


def read_events(terminal: Address, fn: int, first: int, end: int, *, seq: int) -> Frame:
    """AFN 0E F1 (important) or F2 (normal) event records ``first`` .. ``end`` - 1."""
    return request(terminal, 0x0E, [(0, fn, {"pm": first, "pn": end})], seq=seq)


def sync_time(terminal: Address, now: datetime, *, seq: int, tp: TimeLabel | None = None) -> Frame:
    """AFN 05 F31: set the terminal's clock."""
    return request(terminal, 0x05, [(0, 31, {"time": now})], seq=seq, tp=tp)


def port_command(terminal: Address, fn: int, port: int, *, seq: int) -> Frame:
    """AFN 05 F49 pause, F50 resume, F51 re-read the meters of ``port``."""
    if fn not in (49, 50, 51):
        raise EncodeError(f"AFN 05H F{fn}: port commands are F49, F50 and F51")
    return request(terminal, 0x05, [(0, fn, {"port": port})], seq=seq)


def set_archive(terminal: Address, meters: Sequence[Mapping[str, Any]], *, seq: int) -> Frame:
    """AFN 04 F10: push meter archive records (the keys of ``catalogue._METER_RECORD``)."""
    values = {"count": len(meters), "meters": list(meters)}
    return request(terminal, 0x04, [(0, 10, values)], seq=seq)


def query_archive(terminal: Address, seqs: Sequence[int], *, seq: int) -> Frame:
    """AFN 0A F10: read back the archive records with these sequence numbers."""
    return request(terminal, 0x0A, [(0, 10, {"count": len(seqs), "seqs": list(seqs)})], seq=seq)

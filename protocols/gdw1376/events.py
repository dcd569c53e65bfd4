"""Event records (AFN 0E F1/F2, appendix B): ERC, length Le, and Le bytes of the event.

The records the master acts on are decoded by name (table below); any other ERC keeps its
bytes, so an unknown or provincial event never loses the records after it. A record whose Le
differs from its layout is kept raw too, with the reason.
"""

from __future__ import annotations

from typing import Any

from protocols.gdw1376.errors import EncodeError, UnexpectedMessage
from protocols.gdw1376.layout import Field, Layout, Repeat, read, write

_POINT = Field("point_flags", "bin2")
"""D15: started (1) or ended (0); D11..D0: the measurement point pn."""

ERC_NAMES = {
    13: "meter fault",
    14: "terminal power off/on",
    21: "terminal fault",
    27: "register decrease",
    31: "RS-485 read failure",
    35: "unknown meter found",
}

ERC_LAYOUTS: dict[tuple[int, int | None], Layout] = {
    (13, 8): (Field("time", "A.15"), _POINT, Field("fault_flags", "bs8")),
    (14, 10): (Field("power_off", "A.15"), Field("power_on", "A.15")),
    (14, 11): (Field("attribute", "bs8"), Field("power_off", "A.15"), Field("power_on", "A.15")),
    (21, 6): (Field("time", "A.15"), Field("fault_code", "bin1")),
    (27, 17): (
        Field("time", "A.15"),
        _POINT,
        Field("energy_before", "A.14"),
        Field("energy_after", "A.14"),
    ),
    (31, 21): (
        Field("time", "A.15"),
        _POINT,
        Field("last_read", "A.15"),
        Field("last_forward_active", "A.14"),
        Field("last_forward_reactive", "A.11"),
    ),
    (35, None): (
        Field("time", "A.15"),
        Field("port", "bin1"),
        Field("count", "bin1"),
        Repeat(
            "meters",
            "count",
            (
                Field("address", "A.12"),
                Field("phase_and_signal", "bs8"),
                Field("protocol", "bs8"),
            ),
        ),
    ),
}
"""(ERC, Le) -> layout; Le None: variable. ERC 14 with Le 11 (a leading attribute byte) is how
terminals in the field send it (kylecui/3761_Parser captures), the standard's has Le 10."""


def read_records(data: bytes) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    at = 0
    while at < len(data):
        if at + 2 > len(data):
            raise UnexpectedMessage(f"event record at offset {at}: ERC without its length Le")
        erc, length = data[at], data[at + 1]
        body = data[at + 2 : at + 2 + length]
        if len(body) < length:
            raise UnexpectedMessage(
                f"ERC{erc} at offset {at}: Le {length}, only {len(body)} bytes left"
            )
        records.append(decode_record(erc, body))
        at += 2 + length
    return records


def decode_record(erc: int, body: bytes) -> dict[str, Any]:
    record: dict[str, Any] = {"erc": erc, "event": ERC_NAMES.get(erc, "not decoded")}
    layout = ERC_LAYOUTS.get((erc, len(body))) or ERC_LAYOUTS.get((erc, None))
    if layout is None:
        record["raw"] = body.hex()
        if erc in ERC_NAMES:
            record["problem"] = f"Le {len(body)} does not match the ERC{erc} layout"
        return record
    try:
        values, end = read(layout, body, 0, f"ERC{erc}")
    except UnexpectedMessage as exc:
        record["raw"] = body.hex()
        record["problem"] = str(exc)
        return record
    flags = values.pop("point_flags", None)
    if flags is not None:
        values["point"] = flags & 0x0FFF
        values["started"] = bool(flags & 0x8000)
    record.update(values)
    if end != len(body):
        record["surplus"] = body[end:].hex()
    return record


def encode_record(erc: int, values: dict[str, Any]) -> bytes:
    """ERC, Le and the event's bytes, the inverse of ``decode_record`` (for a simulated
    terminal's event log): ``point`` and ``started`` go into the point flags; ERC 14 is
    written in the standard's Le 10 form unless an ``attribute`` is given."""
    candidates = [
        layout
        for (code, length), layout in ERC_LAYOUTS.items()
        if code == erc and (erc != 14 or (length == 11) == ("attribute" in values))
    ]
    if not candidates:
        raise EncodeError(f"ERC{erc}: no layout to encode it with")
    fields = dict(values)
    if "point" in fields:
        point = int(fields.pop("point"))
        if not 0 <= point <= 0x0FFF:
            raise EncodeError(f"ERC{erc}: pn {point} does not fit 12 bits")
        fields["point_flags"] = point | (0x8000 if fields.pop("started", True) else 0)
    body = write(candidates[0], fields, f"ERC{erc}")
    if len(body) > 0xFF:
        raise EncodeError(f"ERC{erc}: {len(body)} bytes, Le holds at most 255")
    return bytes((erc, len(body))) + body

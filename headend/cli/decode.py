"""``headend decode HEX``: the field engineer's frame decoder (报文解析), DL/T 645 and 1376.1.

The protocol is recognised from the header (``68 L L 68`` with protocol id 2 is Q/GDW 1376.1;
``68 A0..A5 68`` is DL/T 645) or named with ``--protocol``. Every field is printed with its
meaning, data units with their decoded values; ``--json`` gives the same as one object. A
frame that does not decode prints the codec's typed error (which names the byte and the
place) and exits 6, like an unusable reply of ``headend read``. Only the sans-IO codecs are
imported, so the command starts as fast as ``headend read --help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
from datetime import date, datetime
from typing import Any

from headend.cli.errors import CommandFailed, ExitCode, UsageProblem

PROTOCOLS = ("auto", "dlt645", "gdw1376")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "decode",
        help="decode a DL/T 645 or Q/GDW 1376.1 frame given in hex (报文解析)",
        description=(
            "Print the fields and values of one frame. HEX may be split by spaces, as "
            "terminals and sniffers print it; wake-up FE bytes are skipped."
        ),
    )
    parser.add_argument(
        "hex", nargs="+", metavar="HEX", help="the frame, e.g. 68 32 00 32 00 68 ..."
    )
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="auto",
        help="the frame's protocol (default: recognised from its header)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    text = "".join(args.hex)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise UsageProblem(f"HEX: {text[:40]!r} is not hex bytes") from None
    if not raw:
        raise UsageProblem("HEX: no bytes")
    protocol = args.protocol if args.protocol != "auto" else detect(raw)
    from protocols.errors import ProtocolError

    try:
        decoded = decode_gdw1376(raw) if protocol == "gdw1376" else decode_dlt645(raw)
    except ProtocolError as exc:
        raise CommandFailed(ExitCode.BAD_REPLY, f"{protocol}: {exc}") from None
    if args.json:
        print(json.dumps(decoded, ensure_ascii=False, default=_json_value))
    else:
        _print_tree(decoded, 0)
    return ExitCode.OK


def detect(raw: bytes) -> str:
    """Which protocol the header announces; refuses bytes that look like neither."""
    body = raw.lstrip(b"\xfe")
    header = len(body) >= 6 and body[0] == 0x68 == body[5] and body[1:3] == body[3:5]
    if header and body[1] & 0x03 == 2:
        return "gdw1376"
    if len(body) >= 8 and body[0] == 0x68 == body[7]:
        return "dlt645"
    raise UsageProblem(
        "HEX: neither a Q/GDW 1376.1 header (68 L L 68) nor a DL/T 645 one (68 A0..A5 68); "
        "name the protocol with --protocol"
    )


def decode_gdw1376(raw: bytes) -> dict[str, Any]:
    from protocols.gdw1376 import decode_frame, parse_units
    from protocols.gdw1376.catalogue import AFN_NAMES
    from protocols.gdw1376.forwarding import LineSettings, frame_timeout_seconds, inner_frame
    from protocols.gdw1376.units import UnitId

    frame = decode_frame(raw)
    c, seq, a = frame.control, frame.seq, frame.address
    out: dict[str, Any] = {
        "protocol": "Q/GDW 1376.1",
        "length": frame.user_data_length,
        "control": {
            "byte": f"{c.to_byte():02X}",
            "direction": "up (terminal to master)" if c.up else "down (master to terminal)",
            "primary": c.primary,
            "acd" if c.up else "fcb": c.fcb_acd,
            "fcv": c.fcv,
            "function": f"{c.function} {c.function_name}",
        },
        "address": {
            "region": a.region,
            "terminal": a.terminal,
            "master": a.master,
            "group": a.group,
        },
        "afn": f"{frame.afn:02X}H {AFN_NAMES.get(frame.afn, 'not decoded')}",
        "seq": {
            "number": seq.number,
            "frame": seq.position,
            "confirm": seq.confirm,
            "tpv": seq.tpv,
        },
    }
    from protocols.gdw1376.errors import UnexpectedMessage

    try:
        units = parse_units(frame)
    except UnexpectedMessage as exc:
        out["units_error"] = str(exc)
        out["body"] = frame.body.hex(" ")
        units = []
    shown = []
    for unit in units:
        values = dict(unit.values)
        if "frame" in values and frame.afn == 0x10:
            values["frame"] = _forwarded(values["frame"], inner_frame)
            if "line_control" in values:
                values["line_control"] = dataclasses.asdict(
                    LineSettings.from_byte(values["line_control"])
                )
                values["frame_timeout_s"] = frame_timeout_seconds(values.pop("frame_timeout"))
        if "units" in values:  # AFN 00 F3: name each confirmed unit
            values["units"] = [
                {"unit": str(UnitId.from_wire(bytes.fromhex(row["unit"]))), "ok": not row["error"]}
                for row in values["units"]
            ]
        entry: dict[str, Any] = {"unit": f"p{unit.point} F{unit.item}", **values}
        if not unit.decoded:
            entry["raw"] = unit.raw.hex(" ")
            entry["note"] = "no layout for this unit: its bytes are shown raw"
        shown.append(entry)
    out["units"] = shown
    if frame.pw is not None:
        out["pw"] = frame.pw.hex(" ")
    if frame.ec is not None:
        out["ec"] = {"important": frame.ec.important, "normal": frame.ec.normal}
    if frame.tp is not None:
        out["tp"] = str(frame.tp)
    out["cs"] = f"{raw[-2]:02X}"
    return out


def _forwarded(content: bytes, inner_frame: Any) -> Any:
    from protocols.errors import ProtocolError

    try:
        return _dlt645_fields(inner_frame(content))
    except ProtocolError as exc:
        return {"raw": content.hex(" "), "error": str(exc)}


def decode_dlt645(raw: bytes) -> dict[str, Any]:
    from protocols.dlt645 import FrameDecoder
    from protocols.dlt645.errors import MalformedFrame

    decoder = FrameDecoder(max_data_length=255)
    decoder.feed(raw)
    frame = decoder.next_frame()
    if frame is None or decoder.pending:
        raise MalformedFrame("incomplete frame, or bytes after it", raw)
    return {"protocol": "DL/T 645", **_dlt645_fields(frame)}


def _dlt645_fields(frame: Any) -> dict[str, Any]:
    from protocols.dlt645 import ReadResponse, decode_value, parse_request, parse_response
    from protocols.dlt645.errors import UnknownIdentifier

    control = frame.control
    out: dict[str, Any] = {
        "address": str(frame.address),
        "control": {
            "function": f"{control.function:02X}",
            "from_meter": control.from_meter,
            "error": control.error,
            "more": control.more,
        },
        "data": frame.data.hex(" "),
    }
    message = parse_response(frame) if control.from_meter else parse_request(frame)
    fields = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
    fields.pop("address", None)
    out["message"] = {"type": type(message).__name__, **fields}
    if isinstance(message, ReadResponse):
        try:
            out["value"] = decode_value(message.di, message.payload, message.standard)
        except UnknownIdentifier as exc:
            out["value_error"] = str(exc)
    if "di" in fields:
        out["message"]["di"] = f"{fields['di']:08X}"
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex(" ")
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def _print_tree(value: Any, depth: int) -> None:
    pad = "  " * depth
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                print(f"{pad}{key}:")
                _print_tree(item, depth + 1)
            else:
                print(f"{pad}{key}: {_text(item)}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict | list):
                print(f"{pad}[{index}]")
                _print_tree(item, depth + 1)
            else:
                print(f"{pad}- {_text(item)}")


def _text(value: Any) -> str:
    if value is None:
        return "no data"
    if isinstance(value, list | dict):
        return "none" if not value else json.dumps(value, default=_json_value)
    if isinstance(value, bool | int | float | str):
        return str(value)
    return str(_json_value(value))

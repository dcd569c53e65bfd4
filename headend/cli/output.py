"""What ``headend read`` prints: one row per value, as an aligned table or as JSON.

Both protocols produce the same rows, so a field engineer sees one layout whether the meter
speaks DL/T 645 or Modbus, and scripts parse one JSON shape. A value that could not be used
stays a row with its reason rather than disappearing, as with MISSING readings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

from headend.cli.frames import WireFrame

JsonValue = int | float | str | None


@dataclass(frozen=True, slots=True)
class Row:
    """One printed value; ``problem`` says why ``value`` is None (or what is odd about it)."""

    name: str
    text: str
    """The value as printed: decimals as the meter sends them, times as ISO 8601."""
    value: JsonValue
    unit: str = ""
    source: str = ""
    """Where it came from: a DI (``0201FF00``) or a register (``holding 0x2006``)."""
    problem: str | None = None


def not_available(name: str, reason: str, *, unit: str = "", source: str = "") -> Row:
    return Row(name, "n/a", None, unit, source, reason)


def write_table(rows: Sequence[Row], out: TextIO) -> None:
    """``voltage_a  220.1 V``: names left-aligned, values right-aligned so decimals line up."""
    if not rows:
        return
    name_width = max(len(row.name) for row in rows)
    text_width = max(len(row.text) for row in rows)
    for row in rows:
        line = f"{row.name:<{name_width}}  {row.text:>{text_width}}"
        if row.unit and row.value is not None:
            line += f" {row.unit}"
        if row.problem:
            line += f"  ({row.problem})"
        out.write(line.rstrip() + "\n")


def write_traffic(frames: Iterable[WireFrame], out: TextIO) -> None:
    """Every frame as sent and received, in hex, oldest first (``--raw``); bytes that are not
    a frame carry the reason in brackets."""
    for frame in frames:
        line = f"{frame.direction} {frame.data.hex(' ')}".rstrip()
        if frame.problem:
            line += f"  ({frame.problem})"
        out.write(line + "\n")


def write_json(
    header: dict[str, JsonValue],
    rows: Sequence[Row],
    out: TextIO,
    *,
    traffic: Iterable[WireFrame] | None = None,
) -> None:
    """One JSON document: ``header`` fields, ``values`` and, with ``--raw``, ``frames``."""
    document: dict[str, object] = dict(header)
    document["values"] = [
        {
            "name": row.name,
            "value": row.value,
            "unit": row.unit,
            "source": row.source,
            "problem": row.problem,
        }
        for row in rows
    ]
    if traffic is not None:
        document["frames"] = [
            {
                "at": f.at.isoformat(),
                "direction": str(f.direction),
                "hex": f.data.hex(),
                "problem": f.problem,
            }
            for f in traffic
        ]
    out.write(json.dumps(document, indent=2) + "\n")


def format_number(value: float) -> str:
    """A float32-sourced value with the 7 significant digits it really has, never exponents."""
    if abs(value) >= 1e7:
        return f"{value:.0f}"
    text = f"{value:.7g}"
    if "e" in text:
        return f"{value:.7f}".rstrip("0").rstrip(".") or "0"
    return text

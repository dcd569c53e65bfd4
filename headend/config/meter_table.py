"""The shape of one meter: a ``[[meters]]`` table of the fleet file and the body of the API's
meter change are this one model, so the two cannot disagree on what a meter may be.

What depends on the rest of the fleet (the channel exists, the address is free on that bus, the
protocol's keys are there, the plan's quantities are readable) is judged where the fleet is
known: by the fleet loader for the file, by the registry for a change while running.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic.config import JsonDict

from headend.config.errors import PATTERN_PROBLEMS
from headend.config.fields import FileModel, Number, TagText
from headend.drivers.registry import known_protocols

PASSWORD_PATTERN = r"^[0-9A-Fa-f]{8}$"
PATTERN_PROBLEMS[PASSWORD_PATTERN] = "expected 8 hex digits"


def _protocol(name: str) -> str:
    # Asked of the registry each time: tests register drivers of their own.
    known = known_protocols()
    if name not in known:
        raise ValueError(f"expected one of {', '.join(known)}, got {name!r}")
    return name


def _unit_id(value: int) -> int:
    if not 1 <= value <= 247:
        raise ValueError(f"Modbus unit ids are 1-247, got {value}")
    return value


def _protocol_enum(schema: JsonDict) -> None:
    schema["enum"] = list(known_protocols())


ProtocolName = Annotated[str, AfterValidator(_protocol), Field(json_schema_extra=_protocol_enum)]
UnitId = Annotated[
    int, AfterValidator(_unit_id), Field(json_schema_extra={"minimum": 1, "maximum": 247})
]
MeterKind = Literal["load", "transformer_lv"]
"""``headend.config.fleet.METER_KINDS``: a load, or its transformer's own LV-side meter."""


class MeterTable(FileModel):
    """One meter as the file or the API gives it; ``headend.config.fleet.meter_config`` turns
    it into the ``MeterConfig`` the head-end runs with."""

    id: TagText | None = Field(
        default=None, description="Default: the address (DL/T 645) or channel:unit_id (Modbus)"
    )
    channel: TagText
    protocol: ProtocolName | None = Field(default=None, description="Default: the channel's")
    plan: str = Field(min_length=1)
    address: str | None = Field(
        default=None,
        description="The meter's bus address as its protocol writes it (DL/T 645: the 12 digits"
        " on the nameplate); checked by the protocol's driver",
    )
    unit_id: UnitId | None = Field(default=None, description="Modbus unit id, 1-247")
    register_map: str | None = None
    energy_base: int | None = Field(
        default=None,
        ge=0,
        le=0xFFFF,
        description="Modbus: the address the meter's energy block starts at, when it is not"
        " the map's (DTSU666: 0x401E by default, 0x101E on some firmware)",
    )
    transformer: TagText | None = None
    building: TagText | None = None
    household: TagText | None = None
    phase: Literal["A", "B", "C", "ABC"] | None = None
    password: str = Field(
        default="00000000",
        pattern=PASSWORD_PATTERN,
        description="Level + 3-byte password for writes and relay control, as 8 hex digits",
    )
    operator_code: str = Field(default="00000000", pattern=PASSWORD_PATTERN)
    control: Literal["secured", "plaintext"] = Field(
        default="secured",
        description="secured: relay control, meter clear and event clear go sealed through the "
        "[security] module after an ESAM identity authentication (State Grid meters refuse "
        "plaintext); plaintext: with the password only",
    )
    ct_ratio: Number = Field(default=1.0, ge=0.001)
    pt_ratio: Number = Field(default=1.0, ge=0.001)
    kind: MeterKind = Field(
        default="load", description="transformer_lv: the transformer's own LV-side meter"
    )

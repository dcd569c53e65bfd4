"""Dial-in terminals (concentrators) and the meters they read: ``[master]`` and ``[[terminals]]``.

A concentrator's meters are not on a bus of ours: the concentrator reads them and the master
pulls what it stored, by measurement point (pn). So such a meter names its terminal and pn
(a ``[[terminals.meters]]`` table under its terminal) instead of a channel and a bus address,
and the head-end reaches it only through the terminal's session (``headend.terminals``).
docs/configuration.md describes the tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from headend.config.errors import ConfigError, KeyProblem
from headend.config.fields import Duration, FileModel, TagText
from headend.config.meter_table import PASSWORD_PATTERN

MAX_POINT = 2040
"""The highest pn of Q/GDW 1376.1 (DA: 255 groups of 8)."""
MAX_WINDOW = 16
"""PSEQ is 4 bits: no more requests than that can wait for their replies at once."""
_TERMINAL_ADDRESS = re.compile(r"^([0-9A-Fa-f]{4})-(\d{1,5})$")
_METER_ADDRESS = re.compile(r"^\d{12}$")


def _terminal_address(text: str) -> str:
    match = _TERMINAL_ADDRESS.match(text)
    if match is None or not 1 <= int(match[2]) <= 0xFFFF:
        raise ValueError(
            f"expected region code and terminal address such as '4403-00012' (4 hex digits, "
            f"then 1..65535), got {text!r}"
        )
    return f"{match[1].upper()}-{int(match[2]):05d}"


def _meter_address(text: str) -> str:
    if _METER_ADDRESS.match(text) is None:
        raise ValueError(f"expected the 12-digit meter address, got {text!r}")
    return text


class MasterTable(FileModel):
    """``[master]``: where the master station listens for terminals, and how it asks them."""

    host: str = "0.0.0.0"
    port: int = Field(default=9001, ge=0, le=65535)
    login_timeout: Annotated[Duration, Field(gt=0)] = 30.0
    reply_timeout: Annotated[Duration, Field(gt=0)] = 10.0
    retries: int = Field(default=2, ge=0)
    pull_delay: Annotated[Duration, Field(ge=0)] = 900.0
    """How long after the terminal's midnight freeze the previous day is pulled (the
    concentrator first reads its meters)."""
    pull_interval: Annotated[Duration, Field(gt=0)] = 3600.0
    """How often the days still missing are asked for again (补抄)."""
    push_archive: bool = False
    """Write the fleet's meter records (AFN 04 F10) to a terminal whose archive differs, then
    read them back; off: differences are only reported (the operator fixes them on site)."""
    window: int = Field(default=1, ge=1, le=MAX_WINDOW)
    """Requests in flight at once per terminal (pipelining). 1 is what every terminal takes;
    more only for terminals known to queue requests: the PSEQ has 16 values, so at most 16
    can be told apart."""
    unread_days: int = Field(default=3, ge=1, le=366)
    """Days in a row without a frozen value after which a terminal's meter is an alarm
    (``meter_unread``) instead of a silent gap."""
    daily_reverse: bool = True
    """Also pull each day's frozen reverse active energy (AFN 0D F163)."""
    monthly_frozen: bool = True
    """Also pull each month's frozen forward active energy (AFN 0D F177)."""
    curves: bool = False
    """Also pull yesterday's curves of power, phase A voltage and current (AFN 0D F81/F89/F92).
    Off by default: 96 points a meter a day, three requests per 8 meters, and a day-old flood
    through the live stream (its subscribers' queues drop what they cannot take)."""


class TerminalMeterTable(FileModel):
    id: TagText
    pn: int = Field(ge=1, le=MAX_POINT)
    address: Annotated[str, AfterValidator(_meter_address)] | None = None
    building: TagText | None = None
    household: TagText | None = None
    password: str = Field(default="00000000", pattern=PASSWORD_PATTERN)
    """Level + 3-byte password of relay orders forwarded to the meter (AFN 10 F1)."""
    operator_code: str = Field(default="00000000", pattern=PASSWORD_PATTERN)
    control: Literal["secured", "plaintext"] = "secured"
    """How forwarded relay orders go: sealed through ``[security]`` or with the password."""


class TerminalTable(FileModel):
    name: TagText
    address: Annotated[str, AfterValidator(_terminal_address)]
    heartbeat: Annotated[Duration, Field(gt=0)] = 60.0
    transformer: TagText | None = None
    keeps_days: int = Field(default=31, ge=1, le=366)
    """How many past days the terminal holds frozen records for (re-reads stop there)."""
    meters: tuple[TerminalMeterTable, ...] = Field(default=(), strict=False)

    @model_validator(mode="after")
    def _points_unique(self) -> TerminalTable:
        seen: dict[int, str] = {}
        for index, meter in enumerate(self.meters):
            if meter.pn in seen:
                raise KeyProblem(
                    ("meters", index, "pn"), f"pn {meter.pn} is already meter {seen[meter.pn]!r}"
                )
            seen[meter.pn] = meter.id
        return self


@dataclass(frozen=True, slots=True)
class MasterConfig:
    host: str = "0.0.0.0"
    port: int = 9001
    login_timeout: float = 30.0
    reply_timeout: float = 10.0
    retries: int = 2
    pull_delay: float = 900.0
    pull_interval: float = 3600.0
    push_archive: bool = False
    window: int = 1
    unread_days: int = 3
    daily_reverse: bool = True
    monthly_frozen: bool = True
    curves: bool = False


@dataclass(frozen=True, slots=True)
class TerminalMeterConfig:
    id: str
    terminal: str
    """The terminal's name."""
    pn: int
    address: str | None = None
    transformer: str | None = None
    building: str | None = None
    household: str | None = None
    password: str = "00000000"
    operator_code: str = "00000000"
    control: str = "secured"

    def tags(self) -> dict[str, str]:
        tags = {"terminal": self.terminal}
        for key in ("transformer", "building", "household"):
            value = getattr(self, key)
            if value:
                tags[key] = value
        return tags


@dataclass(frozen=True, slots=True)
class ConcentratorConfig:
    name: str
    address: str
    """``region-terminal`` as the session server keys it (``4403-00012``)."""
    heartbeat: float
    transformer: str | None
    keeps_days: int
    meters: tuple[TerminalMeterConfig, ...]


def master_config(table: MasterTable) -> MasterConfig:
    return MasterConfig(**table.model_dump())


def terminal_configs(
    tables: Iterable[TerminalTable],
    transformers: Mapping[str, object],
    meter_ids: Iterable[str],
    source: str,
) -> dict[str, ConcentratorConfig]:
    """What crosses tables: unique names and addresses, a known transformer, meter ids that
    no other meter (of a bus or a terminal) has."""
    terminals: dict[str, ConcentratorConfig] = {}
    addresses: dict[str, str] = {}
    ids = set(meter_ids)
    for index, table in enumerate(tables):
        where = f"terminals[{index}]"
        if table.name in terminals:
            raise ConfigError(source, f"{where}.name", f"duplicate terminal {table.name!r}")
        if table.address in addresses:
            raise ConfigError(
                source,
                f"{where}.address",
                f"{table.address} is already terminal {addresses[table.address]!r}",
            )
        if table.transformer is not None and table.transformer not in transformers:
            raise ConfigError(
                source, f"{where}.transformer", f"unknown transformer {table.transformer!r}"
            )
        meters = []
        for at, meter in enumerate(table.meters):
            if meter.id in ids:
                raise ConfigError(
                    source,
                    f"{where}.meters[{at}].id",
                    f"duplicate meter id {meter.id!r}",
                    meter=meter.id,
                )
            ids.add(meter.id)
            meters.append(
                TerminalMeterConfig(
                    id=meter.id,
                    terminal=table.name,
                    pn=meter.pn,
                    address=meter.address,
                    transformer=table.transformer,
                    building=meter.building,
                    household=meter.household,
                    password=meter.password,
                    operator_code=meter.operator_code,
                    control=meter.control,
                )
            )
        addresses[table.address] = table.name
        terminals[table.name] = ConcentratorConfig(
            name=table.name,
            address=table.address,
            heartbeat=table.heartbeat,
            transformer=table.transformer,
            keeps_days=table.keeps_days,
            meters=tuple(meters),
        )
    return terminals

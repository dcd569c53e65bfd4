"""``[ocpp]``: the OCPP central system's listener, the chargers it accepts and the curb rules.

A charger is accepted only if it is listed here, tied to its transformer (whose load it is
curbed against) and to the pile meter its MeterValues are stored under. The controller's
numbers live per transformer because the headroom is a transformer's, not a charger's.
docs/ocpp.md explains each rule.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field

from headend.config.errors import ConfigError
from headend.config.fields import Duration, FileModel, Number

DEFAULT_PORT = 9010


class ChargerTable(FileModel):
    id: str = Field(min_length=1, max_length=48)
    """The charge point identity: the last segment of the WebSocket path it connects to."""
    transformer: str
    meter: str = ""
    """The pile meter id its MeterValues are stored under; empty: the charger id."""
    max_current: Annotated[Number, Field(gt=0, le=500)]
    """Amperes per phase the charger (and its cable) can take."""
    password_env: str = ""
    """Environment variable holding its basic-auth password (security profile 1); empty:
    the charger is identified by its id alone."""


class CurbTable(FileModel):
    transformer: str
    load_meter: str
    """The meter whose ``power_active_total`` is the transformer's measured load (its LV
    meter, or the terminal's device)."""
    load_includes_chargers: bool = True
    """The load meter sees the chargers too (an LV meter does), so their reported draw is
    taken off to find the base load; false for a meter of the other loads only."""
    limit_percent: Annotated[Number, Field(gt=0, le=150)] = 90.0
    min_current: Annotated[Number, Field(ge=0)] = 6.0
    """Below this a session is paused rather than charged (IEC 61851 minimum is 6 A)."""
    safe_current: Annotated[Number, Field(ge=0)] = 6.0
    """Each session's limit while the load measurement is stale: never unlimited."""
    hysteresis: Annotated[Number, Field(ge=0)] = 2.0
    """A raise smaller than this (A) is not sent: small wobbles of the base load cost nothing."""
    ramp_up: Annotated[Number, Field(gt=0)] = 8.0
    """The most a session's limit rises per update (A); cuts are applied at once."""
    stale_after: Annotated[Duration, Field(gt=0)] = 120.0
    """A load reading older than this is not trusted."""
    volts: Annotated[Number, Field(gt=0)] = 230.0
    phases: int = Field(default=3, ge=1, le=3)


class OcppTable(FileModel):
    host: str = "0.0.0.0"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    update_interval: Annotated[Duration, Field(gt=0)] = 10.0
    heartbeat_interval: int = Field(default=60, ge=1)
    """Seconds, told to each charger in the BootNotification answer."""
    chargers: tuple[ChargerTable, ...] = Field(default=(), strict=False)
    curbs: tuple[CurbTable, ...] = Field(default=(), strict=False)


@dataclass(frozen=True, slots=True)
class ChargerConfig:
    id: str
    transformer: str
    meter: str
    max_current: float
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class CurbConfig:
    transformer: str
    load_meter: str
    limit_kw: float
    min_current: float
    safe_current: float
    hysteresis: float
    ramp_up: float
    stale_after: float
    kw_per_amp: float
    """What one ampere per phase of charging draws: phases x volts / 1000 (power factor 1)."""
    load_includes_chargers: bool = True


@dataclass(frozen=True, slots=True)
class OcppConfig:
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    update_interval: float = 10.0
    heartbeat_interval: int = 60
    chargers: Mapping[str, ChargerConfig] = field(default_factory=dict)
    curbs: Mapping[str, CurbConfig] = field(default_factory=dict)


def ocpp_config(
    table: OcppTable,
    *,
    rated_kva: Mapping[str, float],
    source: str,
    environ: Mapping[str, str] | None = None,
) -> OcppConfig:
    """Cross-table checks: each charger's and curb's transformer exists, ids are unique, and
    a charger's password is in the environment. ``rated_kva`` is the transformers table."""
    env = os.environ if environ is None else environ
    chargers: dict[str, ChargerConfig] = {}
    for table_ in table.chargers:
        key = f"ocpp.chargers.{table_.id}"
        if table_.id in chargers:
            raise ConfigError(source, f"{key}.id", "another charger has this id")
        if table_.transformer not in rated_kva:
            raise ConfigError(
                source, f"{key}.transformer", f"no transformer {table_.transformer!r}"
            )
        password = None
        if table_.password_env:
            password = env.get(table_.password_env)
            if not password:
                raise ConfigError(
                    source,
                    f"{key}.password_env",
                    f"environment variable {table_.password_env} is not set",
                )
        chargers[table_.id] = ChargerConfig(
            table_.id, table_.transformer, table_.meter or table_.id, table_.max_current, password
        )
    curbs: dict[str, CurbConfig] = {}
    for curb in table.curbs:
        key = f"ocpp.curbs.{curb.transformer}"
        if curb.transformer not in rated_kva:
            raise ConfigError(source, f"{key}.transformer", f"no transformer {curb.transformer!r}")
        if curb.transformer in curbs:
            raise ConfigError(source, f"{key}.transformer", "the transformer has two curbs")
        if curb.safe_current < curb.min_current and curb.safe_current != 0:
            raise ConfigError(
                source, f"{key}.safe_current", "is below min_current and not 0 (paused)"
            )
        curbs[curb.transformer] = CurbConfig(
            transformer=curb.transformer,
            load_meter=curb.load_meter,
            limit_kw=rated_kva[curb.transformer] * curb.limit_percent / 100.0,
            min_current=curb.min_current,
            safe_current=curb.safe_current,
            hysteresis=curb.hysteresis,
            ramp_up=curb.ramp_up,
            stale_after=curb.stale_after,
            kw_per_amp=curb.phases * curb.volts / 1000.0,
            load_includes_chargers=curb.load_includes_chargers,
        )
    return OcppConfig(
        host=table.host,
        port=table.port,
        update_interval=table.update_interval,
        heartbeat_interval=table.heartbeat_interval,
        chargers=chargers,
        curbs=curbs,
    )

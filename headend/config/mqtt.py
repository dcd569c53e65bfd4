"""The ``[mqtt]`` table: broker, session, ingest limits, point names and who may send requests.

Kept apart from the rest of the fleet file because every key here guards the one door a
stranger on the network can knock on: limits bound what one message may cost, requesters and
their rate bound who may ask the buses for work and how often.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator

from headend.config.errors import KeyProblem
from headend.config.fields import Duration, FileModel, Number, Port
from headend.config.secrets import SecretEntry, read_secrets, unique_names
from headend.config.terminal_points import (
    DEFAULT_TERMINAL_POINTS,
    PointConfigError,
    TerminalPoint,
    as_points,
    default_point,
    terminal_point,
)

DEFAULT_SESSION_EXPIRY_S = 7 * 86400.0
"""How long the broker keeps our session (and queues telemetry for us) while we are away."""
MAX_SESSION_EXPIRY_S = 2**32 - 1
"""MQTT 5 session expiry is a four-byte interval in seconds."""
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024
"""A terminal message is 1-2 kB per transformer; 256 kB leaves room for a gateway of 100."""
DEFAULT_MAX_ITEMS = 5000
"""Devices plus values in one message; parsing more costs without being plausible."""
DEFAULT_REQUEST_RATE = 0.2
"""Requests per second per requester once its burst is spent (one every 5 s)."""
DEFAULT_REQUEST_BURST = 5
DEFAULT_MAX_REQUESTS_IN_FLIGHT = 4
"""Requests being served at once, all requesters together; beyond it they are refused."""
MIN_TOKEN_LENGTH = 16
_CLIENT_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Requester:
    """An identity allowed to send on-demand requests; its token is checked in constant time."""

    name: str
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str
    port: int = 1883
    client_id: str = "headend"
    """Stable across restarts: the broker keeps the session (and queued telemetry) under it."""
    username: str | None = None
    password: str | None = None
    ingest_topics: tuple[str, ...] = ()
    publish_prefix: str = "headend"
    names: Mapping[str, str | TerminalPoint] = field(
        default_factory=lambda: dict(DEFAULT_TERMINAL_POINTS)
    )
    """Terminal data names -> quantity (old form) or ``TerminalPoint`` (quantity, unit, factor)."""
    session_expiry: float = DEFAULT_SESSION_EXPIRY_S
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_items: int = DEFAULT_MAX_ITEMS
    requesters: tuple[Requester, ...] = ()
    """Without any, every request is refused: the request topic is not open to anyone."""
    request_rate: float = DEFAULT_REQUEST_RATE
    request_burst: int = DEFAULT_REQUEST_BURST
    max_requests_in_flight: int = DEFAULT_MAX_REQUESTS_IN_FLIGHT
    points: Mapping[str, TerminalPoint] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", as_points(self.names))


def default_client_id(site: str) -> str:
    """``headend-<site>``: stable for one deployment, different for two sites on one broker."""
    slug = _CLIENT_ID_UNSAFE.sub("-", site).strip("-")
    return f"headend-{slug}" if slug else "headend"


def _session_expiry(seconds: float) -> float:
    if not 0 <= seconds <= MAX_SESSION_EXPIRY_S:
        raise ValueError(f"must be 0 to {MAX_SESSION_EXPIRY_S} s (MQTT 5 limit)")
    return seconds


class PointTable(FileModel):
    """``Name = {quantity, unit, scale}``: the terminal sends ``quantity`` in ``unit`` x
    ``scale``."""

    quantity: str
    unit: str | None = None
    scale: Number = 1.0


def _name_form(value: Any) -> str:
    return "table" if isinstance(value, Mapping) else "text"


PointName = Annotated[
    Annotated[str, Tag("text")] | Annotated[PointTable, Tag("table")], Discriminator(_name_form)
]
"""``Name = "quantity"`` (the old form) or ``Name = {quantity, unit, scale}``."""


class MqttTable(FileModel):
    host: str
    port: Port = 1883
    client_id: str | None = None
    """Default: ``headend-<site>`` (``default_client_id``)."""
    username: str | None = None
    password: str | None = None
    ingest_topics: tuple[str, ...] = Field(default=(), strict=False)
    publish_prefix: str = "headend"
    names: dict[str, PointName] = Field(default_factory=dict)
    session_expiry: Annotated[Duration, AfterValidator(_session_expiry)] = DEFAULT_SESSION_EXPIRY_S
    max_message_bytes: int = Field(default=DEFAULT_MAX_MESSAGE_BYTES, ge=64)
    max_items: int = Field(default=DEFAULT_MAX_ITEMS, ge=1)
    requesters: tuple[SecretEntry, ...] = Field(default=(), strict=False)
    request_rate: Number = Field(default=DEFAULT_REQUEST_RATE, gt=0)
    request_burst: int = Field(default=DEFAULT_REQUEST_BURST, ge=1)
    max_requests_in_flight: int = Field(default=DEFAULT_MAX_REQUESTS_IN_FLIGHT, ge=1)

    @model_validator(mode="after")
    def _points_and_requesters(self) -> MqttTable:
        self.points()
        unique_names(self.requesters, "requesters")
        return self

    def points(self) -> dict[str, str | TerminalPoint]:
        """Defaults, overridden per name; a unit or quantity that cannot be converted is a
        ``KeyProblem`` at ``names.<Name>``."""
        names: dict[str, str | TerminalPoint] = dict(DEFAULT_TERMINAL_POINTS)
        for name, entry in self.names.items():
            try:
                if isinstance(entry, PointTable):
                    names[name] = terminal_point(entry.quantity, unit=entry.unit, scale=entry.scale)
                else:
                    names[name] = default_point(name, entry)
            except PointConfigError as exc:
                raise KeyProblem(("names", name), str(exc)) from None
        return names


def mqtt_config(
    table: MqttTable, *, site: str, source: str, environ: Mapping[str, str] | None = None
) -> MqttConfig:
    """The settings the bridge runs with; the requesters' tokens come from the environment."""
    env = os.environ if environ is None else environ
    secrets = read_secrets(
        table.requesters, env, min_length=MIN_TOKEN_LENGTH, source=source, key="mqtt.requesters"
    )
    return MqttConfig(
        host=table.host,
        port=table.port,
        client_id=table.client_id or default_client_id(site),
        username=table.username,
        password=table.password,
        ingest_topics=table.ingest_topics,
        publish_prefix=table.publish_prefix,
        names=table.points(),
        session_expiry=table.session_expiry,
        max_message_bytes=table.max_message_bytes,
        max_items=table.max_items,
        requesters=tuple(
            Requester(entry.name, secret)
            for entry, secret in zip(table.requesters, secrets, strict=True)
        ),
        request_rate=table.request_rate,
        request_burst=table.request_burst,
        max_requests_in_flight=table.max_requests_in_flight,
    )

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

from headend.config.fields import Table, named_secrets
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


def parse_mqtt(t: Table, *, site: str, environ: Mapping[str, str] | None = None) -> MqttConfig:
    """Validate ``[mqtt]``; every error names the file and the key."""
    env = os.environ if environ is None else environ
    config = MqttConfig(
        host=t.text("host"),
        port=t.port("port", 1883),
        client_id=t.text("client_id", default_client_id(site)),
        username=t.optional_text("username"),
        password=t.optional_text("password"),
        ingest_topics=tuple(t.text_list("ingest_topics", [])),
        publish_prefix=t.text("publish_prefix", "headend"),
        names=_names(t),
        session_expiry=_session_expiry(t),
        max_message_bytes=t.integer("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES, minimum=64),
        max_items=t.integer("max_items", DEFAULT_MAX_ITEMS, minimum=1),
        requesters=_requesters(t, env),
        request_rate=_positive(t, "request_rate", DEFAULT_REQUEST_RATE),
        request_burst=t.integer("request_burst", DEFAULT_REQUEST_BURST, minimum=1),
        max_requests_in_flight=t.integer(
            "max_requests_in_flight", DEFAULT_MAX_REQUESTS_IN_FLIGHT, minimum=1
        ),
    )
    t.reject_unknown()
    return config


def _session_expiry(t: Table) -> float:
    seconds = t.duration("session_expiry", DEFAULT_SESSION_EXPIRY_S)
    if not 0 <= seconds <= MAX_SESSION_EXPIRY_S:
        raise t.error("session_expiry", f"must be 0 to {MAX_SESSION_EXPIRY_S} s (MQTT 5 limit)")
    return seconds


def _positive(t: Table, name: str, default: float) -> float:
    value = t.number(name, default)
    if value <= 0:
        raise t.error(name, f"must be > 0, got {value}")
    return value


def _names(t: Table) -> dict[str, str | TerminalPoint]:
    """Defaults, overridden per name by ``Name = "quantity"`` or ``Name = {quantity, unit,
    scale}``."""
    names: dict[str, str | TerminalPoint] = dict(DEFAULT_TERMINAL_POINTS)
    table = t.table("names")
    if table is None:
        return names
    for key, raw in table.data.items():
        try:
            if isinstance(raw, dict):
                entry = table.table(key)
                assert entry is not None
                names[key] = terminal_point(
                    entry.text("quantity"),
                    unit=entry.optional_text("unit"),
                    scale=entry.number("scale", 1.0),
                )
                entry.reject_unknown()
            else:
                names[key] = default_point(key, table.text(key))
        except PointConfigError as exc:
            raise table.error(key, str(exc)) from None
    return names


def _requesters(t: Table, environ: Mapping[str, str]) -> tuple[Requester, ...]:
    """``[[mqtt.requesters]] name, token_env``: the secret lives in the environment."""
    requesters: list[Requester] = []
    for entry, name, secret in named_secrets(
        t.tables("requesters"), environ, min_length=MIN_TOKEN_LENGTH
    ):
        entry.reject_unknown()
        requesters.append(Requester(name, secret))
    return tuple(requesters)

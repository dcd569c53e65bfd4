"""``[dial_in]``: the one TCP listener that DTUs dialling in (``dialin://`` channels) call.

A cheap 4G DTU cannot be dialled (it sits behind the carrier's NAT); it calls the head-end,
names itself with a registration packet and then carries its RS-485 bus transparently, with a
heartbeat packet between frames. Each such channel's URL holds the packets
(``dialin://DTU-0001?heartbeat=HB``, transports/urls.py); this table says where the listener
is and how long it waits. docs/configuration.md describes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from headend.config.errors import ConfigError
from headend.config.fields import Duration, FileModel
from transports import DialInSettings, parse_transport_url


class DialInTable(FileModel):
    host: str = "0.0.0.0"
    port: int = Field(default=9002, ge=0, le=65535)
    registration_timeout: Annotated[Duration, Field(gt=0)] = 10.0
    """A connection that has not sent a known registration packet by then is closed."""
    idle_timeout: Annotated[Duration, Field(gt=0)] = 300.0
    """A registered DTU that sends nothing, not even a heartbeat, for this long is hung up on:
    a cellular link dies without a FIN. Above the DTUs' heartbeat period (often 60 s)."""


@dataclass(frozen=True, slots=True)
class DialInConfig:
    host: str = "0.0.0.0"
    port: int = 9002
    registration_timeout: float = 10.0
    idle_timeout: float = 300.0


def dial_in_config(table: DialInTable) -> DialInConfig:
    return DialInConfig(**table.model_dump())


def dial_in_channels(urls: Mapping[str, str], source: str) -> dict[str, DialInSettings]:
    """The channels that are dial-in DTUs, by name; two with the same registration packet
    cannot be told apart by the listener, so that is refused naming both."""
    found: dict[str, DialInSettings] = {}
    by_packet: dict[bytes, str] = {}
    for name, url in urls.items():
        if not url.lower().startswith("dialin:"):
            continue
        settings = parse_transport_url(url)
        assert isinstance(settings, DialInSettings)  # the channel table checked the URL
        other = by_packet.get(settings.registration)
        if other is not None:
            raise ConfigError(
                source,
                f"channels.{name}.url",
                f"registration packet {settings.registration!r} is also channel {other!r}'s",
            )
        by_packet[settings.registration] = name
        found[name] = settings
    return found

"""A one-off DL/T 645 read over TCP through the head-end's own reader, for the runner tests."""

from __future__ import annotations

from headend.bus.link import BusLink
from headend.config.fleet import MeterConfig
from headend.drivers.dlt645.reader import read_dlt645
from storage.records import Reading, utc_now
from transports import create_transport, opened

TIMEOUT_S = 2.0


async def read_over_tcp(
    url: str, address: str, quantities: list[str], *, reply_timeout: float = TIMEOUT_S
) -> dict[str, Reading]:
    """Readings by quantity name from the meter ``address`` behind the gateway at ``url``."""
    transport = create_transport(url, protocol="dlt645-2007")
    link = BusLink(transport, gap=0.01)
    meter = MeterConfig(
        id=address, channel="sim", protocol="dlt645-2007", plan="-", address=address
    )
    async with opened(transport):
        readings = await read_dlt645(
            link, meter, quantities, utc_now(), reply_timeout=reply_timeout
        )
    return {r.quantity: r for r in readings}

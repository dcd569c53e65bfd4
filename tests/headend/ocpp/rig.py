"""A central system on loopback with four simulated charge points, for tests/headend/ocpp.

The transformer here is the test's: its load is a base of 80 kW plus what the simulated
chargers really draw (their truth), so the curb must subtract the chargers' reported draw to
find the base. 100 kW limit, 3 x 230 V: 20 kW of headroom = 28.99 A over four sessions,
7.2 A each (rounded to 0.1 A on the wire)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from headend.clock import SystemClock
from headend.commands.audit import AuditLog
from headend.config.ocpp import ChargerConfig, CurbConfig, OcppConfig
from headend.ocpp.central import OcppCentral
from simulators.ocpp.charger import EvSpec, Mode, SimulatedCharger
from storage.records import Reading

BASE_KW = 80.0
CURB = CurbConfig(
    transformer="T1",
    load_meter="T1-LV",
    limit_kw=100.0,
    min_current=6.0,
    safe_current=6.0,
    hysteresis=2.0,
    ramp_up=8.0,
    stale_after=60.0,
    kw_per_amp=0.69,
)
MODES: dict[str, Mode] = {"CP1": "follow", "CP2": "follow", "CP3": "reject", "CP4": "unsupported"}
PASSWORD = "s3cret-cp2-password"


@dataclass
class Rig:
    central: OcppCentral
    chargers: dict[str, SimulatedCharger]
    stored: list[Reading]
    audit: AuditLog
    url: str
    base_kw: list[float]
    """The transformer's other loads, kW (one item, changed by a test)."""


def _config() -> OcppConfig:
    chargers = {
        name: ChargerConfig(name, "T1", f"{name}-pile", 32.0, PASSWORD if name == "CP2" else None)
        for name in [*MODES, "CP5"]
    }
    return OcppConfig(
        host="127.0.0.1", port=0, update_interval=3600.0, chargers=chargers, curbs={"T1": CURB}
    )


@asynccontextmanager
async def running_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    stored: list[Reading] = []
    audit = AuditLog(tmp_path / "audit.jsonl")
    clock = SystemClock()
    chargers: dict[str, SimulatedCharger] = {}
    base_kw = [BASE_KW]

    def latest_load(meter: str) -> tuple[float, datetime] | None:
        assert meter == "T1-LV"
        return base_kw[0] + sum(c.truth.draw_kw for c in chargers.values()), clock.now()

    central = OcppCentral(
        _config(), audit=audit, clock=clock, store=stored.extend, latest_load=latest_load
    )
    async with asyncio.TaskGroup() as group:
        server = group.create_task(central.run())
        await central.ready.wait()
        url = f"ws://127.0.0.1:{central.port}"
        for name, mode in MODES.items():
            spec = EvSpec(
                name, 32.0, 1000.0, mode=mode, password=PASSWORD if name == "CP2" else None
            )
            chargers[name] = SimulatedCharger(spec, url, meter_interval=3600.0)
        runs = [group.create_task(c.run()) for c in chargers.values()]
        for charger in chargers.values():
            await charger.metered.wait()
        yield Rig(central, chargers, stored, audit, url, base_kw)
        for task in [*runs, server]:
            task.cancel()

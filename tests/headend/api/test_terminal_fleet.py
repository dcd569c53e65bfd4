"""A transformer terminal's own telemetry in ``/api/fleet``, through the real producers: the
terminal simulator's encoder, a real mosquitto, the head-end's MQTT bridge and engine.

Terminals send power in W (``TotW``) and their load rate in %; the fleet view must show kW and
the rate the overload rule judges, never W read as kW (a permanent 14,485 % overload)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import httpx
import pytest

from headend.api import create_app
from simulators.community.values import TransformerValues
from simulators.terminal.config import TerminalConfig
from simulators.terminal.payload import encode_values
from tests.headend.api.fleet import READER, TOKENS, WAIT_SECONDS, fleet_table, live_fleet
from tests.support.mosquitto import MosquittoBroker

TERMINAL = "TTU_T1"
RATED_KVA = 100.0


async def test_the_fleet_view_shows_a_terminals_telemetry_in_kw_and_the_judged_rate(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    table = fleet_table()
    table["transformers"] = [{"name": "T1", "rated_kva": RATED_KVA, "terminal": TERMINAL}]
    table["mqtt"] = {
        "host": mosquitto.host,
        "port": mosquitto.port,
        "ingest_topics": ["terminal/+/telemetry"],
    }
    terminal = TerminalConfig()
    async with live_fleet(tmp_path, table) as fleet:
        assert fleet.engine.mqtt is not None
        values = TransformerValues(
            transformer_id=TERMINAL,
            timestamp=fleet.engine.clock.now(),
            rated_kva=RATED_KVA,
            voltage_a=229.0,
            voltage_b=229.0,
            voltage_c=229.0,
            current_a=93.0,
            current_b=93.0,
            current_c=93.0,
            power_active_total=64.0,  # kW: the simulator sends TotW = 64000 (W)
            power_reactive_total=48.0,
            power_apparent_total=80.0,
            power_factor_total=0.8,
            frequency=50.0,
            load_rate=80.0,  # %: apparent power over rated kVA, as the terminal reports it
            oil_temperature=45.0,
            winding_temperature=55.0,
            energy_active_import_total=1500.0,
        )
        live = fleet.engine.live.subscribe()
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                await fleet.engine.mqtt.connected.wait()
                async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
                    topic = terminal.topic(terminal.telemetry_topic, TERMINAL)
                    await client.publish(topic, encode_values(terminal, values, "t-1"), qos=1)
                seen: set[str] = set()
                while not {"power_active_total", "load_rate"} <= seen:
                    reading = await live.get()  # live once stored
                    if reading.meter == TERMINAL:
                        seen.add(reading.quantity)
        finally:
            fleet.engine.live.unsubscribe(live)
        app = create_app(fleet.engine, tokens=TOKENS, store=fleet.store)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://headend") as http:
            body = (await http.get("/api/fleet", headers=READER)).json()
        power_factor = fleet.engine.detector.config.assumed_power_factor
        fleet.engine.stop()  # graceful, as `headend run` stops: the MQTT session closes cleanly
    [t1] = body["transformers"]
    assert t1["terminal"]["device"] == TERMINAL
    assert t1["terminal"]["power_kw"] == pytest.approx(64.0)
    assert t1["terminal"]["load_rate"] == pytest.approx(0.80)
    assert t1["load_source"] == "terminal"
    assert t1["load_kw"] == pytest.approx(64.0)
    assert t1["load_rate"] == pytest.approx(64.0 / power_factor / RATED_KVA)

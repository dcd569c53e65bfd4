"""The scenario runner: every bus behind its own gateway, one model, one clock, one seed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from headend.clock import WarpedClock
from headend.errors import ReadFailed
from simulators.runner import RunnerError, ScenarioRunner
from simulators.scenario import Scenario, load_scenario
from storage.records import FailureReason
from tests.support.dlt645_reading import read_over_tcp
from tests.support.mosquitto import MosquittoBroker

TIMEOUT_S = 10.0
VOLTAGE_RESOLUTION_V = 0.1
"""DL/T 645 voltages carry one decimal (XXX.X)."""


def simulated(start: datetime, speed: float) -> Callable[[], datetime]:
    """The head-end's clock, as ``headend simulate`` hands it to the runner."""
    return WarpedClock(start, speed).now


async def test_a_tcp_read_returns_the_models_voltage(smoke: Scenario) -> None:
    # speed 1: the simulated clock moves only by the read's own wire time, so the model's
    # value right after the read is the one the meter answered with.
    async with ScenarioRunner(
        smoke, seed=3, speed=1.0, clock=simulated(smoke.start, 1.0)
    ) as runner:
        endpoints = runner.endpoints()
        assert list(endpoints.buses) == [bus.id for bus in smoke.buses]
        assert len(set(endpoints.buses.values())) == len(smoke.buses)
        assert endpoints.mqtt is None
        for meter in (smoke.meters[0], smoke.meters[-1]):
            async with asyncio.timeout(TIMEOUT_S):
                readings = await read_over_tcp(
                    endpoints.buses[meter.bus], meter.address, ["voltage_a", "current_a"]
                )
            model = runner.community.meter_values(meter.id)
            assert readings["voltage_a"].value == pytest.approx(
                model.voltage_a, abs=VOLTAGE_RESOLUTION_V
            )
            assert readings["current_a"].value == pytest.approx(model.current_a, abs=0.01)
        assert runner.community.now >= smoke.start


async def test_meters_answer_only_on_their_own_bus(smoke: Scenario) -> None:
    first, second = smoke.buses[0].id, smoke.buses[1].id
    stranger = smoke.meters_on_bus(second)[0]
    async with ScenarioRunner(
        smoke, seed=0, speed=1.0, clock=simulated(smoke.start, 1.0)
    ) as runner:
        url = runner.endpoints().buses[first]
        with pytest.raises(ReadFailed) as failure:
            async with asyncio.timeout(TIMEOUT_S):
                await read_over_tcp(url, stranger.address, ["voltage_a"], reply_timeout=0.5)
    assert failure.value.reason is FailureReason.TIMEOUT


def test_the_same_seed_gives_the_same_values(smoke: Scenario) -> None:
    moment = smoke.start + timedelta(hours=19, minutes=30)

    def values(seed: int) -> list[float]:
        runner = ScenarioRunner(
            smoke, seed=seed, speed=60.0, start=moment, clock=simulated(moment, 60.0)
        )
        return [runner.community.meter_values(m.id).voltage_a for m in smoke.meters]

    assert values(5) == values(5)
    assert values(5) != values(6)


def test_start_before_the_scenario_is_refused(smoke: Scenario) -> None:
    early = smoke.start - timedelta(minutes=1)
    with pytest.raises(RunnerError, match="before the scenario's start"):
        ScenarioRunner(smoke, seed=0, speed=1.0, start=early, clock=simulated(early, 1.0))


def test_a_bus_with_another_protocol_is_refused(tmp_path: Path, smoke: Scenario) -> None:
    text = smoke.source.read_text(encoding="utf-8").replace(
        'bus = { id = "bus-S2",', 'bus = { id = "bus-S2", protocol = "modbus",'
    )
    path = tmp_path / "modbus-bus.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RunnerError, match=r"bus bus-S2: protocol 'modbus'"):
        ScenarioRunner(load_scenario(path), seed=0, speed=1.0, clock=simulated(smoke.start, 1.0))


async def test_the_terminal_publishes_to_the_given_broker(
    mosquitto: MosquittoBroker, smoke: Scenario
) -> None:
    broker = (mosquitto.host, mosquitto.port)
    async with (
        aiomqtt.Client(*broker) as observer,
        ScenarioRunner(
            smoke,
            seed=0,
            speed=60.0,
            mqtt=broker,
            terminal_interval_s=0.1,
            clock=simulated(smoke.start, 60.0),
        ) as runner,
    ):
        endpoints = runner.endpoints()
        assert endpoints.mqtt is not None
        (terminal,) = endpoints.mqtt.terminals
        await observer.subscribe(terminal.telemetry, qos=1)
        async with asyncio.timeout(TIMEOUT_S):
            async for message in observer.messages:
                assert isinstance(message.payload, bytes)
                document: dict[str, Any] = json.loads(message.payload)
                break
    assert [item["dev"] for item in document["body"]] == [terminal.device]
    assert terminal.transformer == smoke.transformers[0].id

"""Operator commands a meter's protocol cannot carry are refused before anything is audited
or queued; the audit's outcome rule (what an error means for a command that may have acted).

Relay control, clock checks and time sync over a real DL/T 645 bus: test_audit.py and
tests/headend/engine/test_dlt645.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from headend.commands.audit import outcome_of_error
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from headend.errors import BusClosed, ReadFailed
from protocols.dlt645 import RelayAction
from storage.records import FailureReason
from tests.support.sinks import ListSink

MODBUS_FLEET = {
    "site": {"name": "test", "timezone": "UTC"},
    "channels": [{"name": "pile-bus", "url": "tcp://127.0.0.1:9", "protocol": "modbus"}],
    "plans": {"pile": {"reads": [{"quantities": ["voltage_a"], "interval": "1m"}]}},
    "meters": [
        {
            "id": "pile-1",
            "channel": "pile-bus",
            "unit_id": 1,
            "register_map": "chint_dtsu666",
            "plan": "pile",
        }
    ],
}


@pytest.fixture
async def engine(tmp_path: Path) -> Engine:
    """Not running: a refused command must not need the bus."""
    config = parse_fleet_config(MODBUS_FLEET, "test")
    options = EngineOptions(audit_path=tmp_path / "audit.jsonl")
    return Engine(config, ListSink(), options=options)


async def test_relay_control_of_a_modbus_meter_is_refused_unaudited(engine: Engine) -> None:
    with pytest.raises(ReadFailed) as refused:
        await engine.operations.relay("pile-1", RelayAction.TRIP, "ops")
    assert refused.value.reason is FailureReason.UNSUPPORTED
    assert refused.value.detail == "meter pile-1: modbus has no relay control"
    assert engine.audit.recent() == []
    assert engine.workers["pile-bus"].depth() == 0


async def test_a_clock_check_of_a_modbus_meter_is_refused(engine: Engine) -> None:
    with pytest.raises(ReadFailed) as refused:
        await engine.clocks.check_clock("pile-1", user="ops")
    assert refused.value.detail == "meter pile-1: modbus has no clock check"
    assert engine.audit.recent() == []


async def test_time_sync_skips_channels_that_are_not_dlt645(engine: Engine) -> None:
    assert await engine.clocks.broadcast_time_sync("ops") == 0
    assert engine.audit.recent() == []


def test_a_meter_refusal_is_certain() -> None:
    error = ReadFailed(FailureReason.ERROR_RESPONSE, "meter m1 refused: password wrong")
    assert outcome_of_error(error, sent=True) == ("refused", "meter m1 refused: password wrong")


def test_no_reply_after_sending_leaves_open_whether_the_meter_acted() -> None:
    error = ReadFailed(FailureReason.TIMEOUT, "no reply from m1 in 1.0 s")
    assert outcome_of_error(error, sent=True) == ("unknown", "no reply from m1 in 1.0 s")


def test_a_command_that_never_got_the_bus_failed_and_says_so() -> None:
    outcome, detail = outcome_of_error(BusClosed("bus-1 is closed"), sent=False)
    assert (outcome, detail) == ("failed", "not sent: BusClosed: bus-1 is closed")


def test_anything_unexpected_after_sending_is_unknown_with_its_type() -> None:
    assert outcome_of_error(RuntimeError("boom"), sent=True) == ("unknown", "RuntimeError: boom")

"""The simulated meter's load profile, read with the codec only: records at each interval
slot hold the source's values at that slot (the ground truth the head-end compares with)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from protocols.dlt645 import (
    Address,
    ErrorResponse,
    ErrorWord,
    Frame,
    ReadFollowUpRequest,
    ReadResponse,
    parse_response,
)
from protocols.dlt645.load_profile import (
    LoadProfileQuery,
    LoadProfileRequest,
    Mode,
    parse_records,
)
from protocols.dlt645.values import NotAvailable
from simulators.dlt645 import RampingSource, SimulatedMeter
from simulators.dlt645.errors import SimulatorConfigError
from tests.simulators.dlt645.master import LOCAL_START, START, VALUES, meter

ADDRESS = "000000000031"
A = Address.parse(ADDRESS)
SOURCE = RampingSource(START - timedelta(days=2), 100.0, 1.2, VALUES)


def ask(sim: SimulatedMeter, query: LoadProfileQuery, now: datetime = START) -> bytes | int:
    """The joined reply data after the DI, or the error word."""
    reply = parse_response(_answer(sim, LoadProfileRequest(A, query).to_frame(), now))
    if isinstance(reply, ErrorResponse):
        return int(reply.error)
    assert isinstance(reply, ReadResponse)
    data, seq = reply.payload, 0
    while reply.more:
        seq += 1
        follow = ReadFollowUpRequest(A, query.di, seq).to_frame()
        reply = parse_response(_answer(sim, follow, now))
        assert isinstance(reply, ReadResponse)
        data += reply.payload
    return data


def _answer(sim: SimulatedMeter, frame: Frame, now: datetime) -> Frame:
    reply = sim.handle(frame, now)
    assert reply is not None
    return reply


def truth(quantity: str, wall: datetime) -> float | None:
    return SOURCE.value(quantity, (wall - timedelta(hours=8)).replace(tzinfo=UTC))


def test_given_time_records_hold_the_source_at_each_slot() -> None:
    sim = SimulatedMeter(meter(ADDRESS, source=SOURCE))
    start = LOCAL_START - timedelta(hours=2)
    data = ask(sim, LoadProfileQuery(0, Mode.GIVEN_TIME, start, 8))
    assert isinstance(data, bytes)
    records = parse_records(data).records
    assert [r.time for r in records] == [start + timedelta(minutes=15 * i) for i in range(8)]
    for record in records:
        assert record.values["energy_active_import_total"] == pytest.approx(
            truth("energy_active_import_total", record.time), abs=0.005
        )
        assert record.values["voltage_a"] == VALUES["voltage_a"]
        assert record.values["current_b"] == VALUES["current_b"]
    # 8 full records are over 200 bytes: the meter used follow-up frames.
    assert len(data) > 200


def test_one_class_and_latest() -> None:
    sim = SimulatedMeter(meter(ADDRESS, source=SOURCE, load_profile_interval=timedelta(hours=1)))
    data = ask(sim, LoadProfileQuery(4, Mode.LATEST, None, 3))
    assert isinstance(data, bytes)
    records = parse_records(data, profile_class=4).records
    assert [r.time for r in records] == [LOCAL_START - timedelta(hours=h) for h in (2, 1, 0)]
    for record in records:
        values = dict(record.values)
        assert values.pop("energy_active_import_total") == pytest.approx(
            truth("energy_active_import_total", record.time), abs=0.005
        )
        # The rest of class 4 is not measured by this source: the 0xFF fill, not zero.
        assert set(values) == {
            "energy_active_export_total",
            "energy_reactive_1_total",
            "energy_reactive_2_total",
        }
        assert all(isinstance(v, NotAvailable) for v in values.values())


def test_future_start_is_no_data_and_a_meter_without_profile_refuses() -> None:
    sim = SimulatedMeter(meter(ADDRESS, source=SOURCE))
    later = LoadProfileQuery(0, Mode.GIVEN_TIME, LOCAL_START + timedelta(hours=1), 1)
    assert ask(sim, later) == ErrorWord.NO_DATA
    none = SimulatedMeter(meter(ADDRESS, source=SOURCE, load_profile_interval=None))
    assert ask(none, LoadProfileQuery(0, Mode.LATEST, None, 1)) == ErrorWord.NO_DATA


def test_interval_must_divide_a_day() -> None:
    with pytest.raises(SimulatorConfigError, match="load_profile_interval"):
        meter(ADDRESS, load_profile_interval=timedelta(minutes=7))


class PresentOnly:
    """A source that only knows the present, as the community model."""

    has_history = False

    def value(self, quantity: str, at: datetime) -> float | None:
        return SOURCE.value(quantity, at)

    def frozen_energy(self, day: object) -> float | None:
        return None


def test_a_source_without_history_gives_no_records() -> None:
    sim = SimulatedMeter(meter(ADDRESS, source=PresentOnly()))
    assert ask(sim, LoadProfileQuery(0, Mode.LATEST, None, 1)) == ErrorWord.NO_DATA

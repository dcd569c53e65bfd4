"""The curb's rules with hand-checked numbers: 0.5 kW per ampere, a 100 kW limit.

min 6 A, safe 6 A, hysteresis 2 A, ramp 8 A per update, stale after 60 s."""

from __future__ import annotations

import dataclasses

import pytest

from headend.config.ocpp import CurbConfig
from headend.ocpp.controller import PAUSED, RELEASED, STALE, ActiveSession, Curb, Limit

CONFIG = CurbConfig(
    transformer="T1",
    load_meter="T1-LV",
    limit_kw=100.0,
    min_current=6.0,
    safe_current=6.0,
    hysteresis=2.0,
    ramp_up=8.0,
    stale_after=60.0,
    kw_per_amp=0.5,
)


def _sessions(*maxima: float, draws: tuple[float, ...] = ()) -> list[ActiveSession]:
    draws = draws or (0.0,) * len(maxima)
    return [
        ActiveSession(f"C{i}", m, d) for i, (m, d) in enumerate(zip(maxima, draws, strict=True))
    ]


def _currents(limits: dict[str, Limit]) -> dict[str, float | None]:
    return {name: limit.current for name, limit in limits.items()}


def test_headroom_is_shared_equally() -> None:
    # 100 - 90 = 10 kW = 20 A over three sessions: 6.67 A each
    limits = Curb(CONFIG).update(_sessions(32, 32, 10), 90.0, 5.0)
    assert _currents(limits) == pytest.approx({"C0": 20 / 3, "C1": 20 / 3, "C2": 20 / 3})


def test_a_session_capped_below_its_share_gives_the_rest_to_the_others() -> None:
    # 20 kW = 40 A; C2 takes its 10 A (released), C0 and C1 share 30 A: 15 A each
    curb = Curb(CONFIG)
    limits = curb.update(_sessions(32, 32, 10), 80.0, 5.0)
    assert _currents(limits) == pytest.approx({"C0": 15.0, "C1": 15.0, "C2": None})
    assert limits["C2"].reason == RELEASED
    assert curb.headroom_kw == pytest.approx(20.0)


def test_below_the_minimum_the_earliest_sessions_charge_and_the_rest_pause() -> None:
    # 7 kW = 14 A: 4.67 A each is under 6 A, so C0 and C1 get 6 A, C2 (2 A left) pauses
    limits = Curb(CONFIG).update(_sessions(32, 32, 32), 93.0, 5.0)
    assert _currents(limits) == pytest.approx({"C0": 6.0, "C1": 6.0, "C2": 0.0})
    assert limits["C2"].reason == PAUSED


def test_the_chargers_own_draw_is_not_base_load() -> None:
    # measured 100 kW, of which the chargers draw 10 + 10: base 80, headroom 20 kW = 40 A
    limits = Curb(CONFIG).update(_sessions(32, 32, draws=(10.0, 10.0)), 100.0, 5.0)
    assert _currents(limits) == pytest.approx({"C0": 20.0, "C1": 20.0})


def test_a_load_meter_without_the_chargers_is_the_base_load() -> None:
    # measured 80 kW of other loads; the chargers' 20 kW are not in it: 20 kW = 40 A
    config = dataclasses.replace(CONFIG, load_includes_chargers=False)
    limits = Curb(config).update(_sessions(32, 32, draws=(10.0, 10.0)), 80.0, 5.0)
    assert _currents(limits) == pytest.approx({"C0": 20.0, "C1": 20.0})


def test_a_closed_loop_on_constant_base_load_settles_and_never_oscillates() -> None:
    # base 80 kW; the chargers obey, so the measured load is 80 + their draw (0.5 kW per A)
    curb = Curb(CONFIG)
    draws = (0.0, 0.0)
    history = []
    for _ in range(20):
        load = 80.0 + sum(draws)
        limits = curb.update(_sessions(32, 32, draws=draws), load, 5.0)
        amps = [limits[name].current or 32.0 for name in ("C0", "C1")]
        history.append(tuple(amps))
        draws = (amps[0] * 0.5, amps[1] * 0.5)
        assert 80.0 + sum(draws) <= CONFIG.limit_kw + 1e-9
    assert set(history) == {(20.0, 20.0)}


def test_a_small_rise_of_headroom_is_held_and_a_large_one_ramped() -> None:
    curb = Curb(CONFIG)
    curb.update(_sessions(32, 32), 80.0, 5.0)  # 20 A each
    # base 79.5: 20.5 kW = 41 A, 20.5 A each: a 0.5 A raise is under the 2 A hysteresis
    assert _currents(curb.update(_sessions(32, 32), 79.5, 5.0)) == {"C0": 20.0, "C1": 20.0}
    # base 70: 30 kW = 60 A, 30 A each: +10 A is ramped to +8 A, then the last 2 A
    assert _currents(curb.update(_sessions(32, 32), 70.0, 5.0)) == {"C0": 28.0, "C1": 28.0}
    assert _currents(curb.update(_sessions(32, 32), 70.0, 5.0)) == {"C0": 30.0, "C1": 30.0}


def test_cuts_apply_at_once() -> None:
    curb = Curb(CONFIG)
    curb.update(_sessions(32, 32), 80.0, 5.0)  # 20 A each
    # base 90: 10 kW = 20 A, 10 A each, now (no ramp down)
    assert _currents(curb.update(_sessions(32, 32), 90.0, 5.0)) == {"C0": 10.0, "C1": 10.0}


def test_release_when_the_load_falls() -> None:
    curb = Curb(CONFIG)
    curb.update(_sessions(32, 32), 80.0, 5.0)  # 20 A each
    # base 30: 70 kW = 140 A, more than both maxima: ramp 20 -> 28, then released
    assert _currents(curb.update(_sessions(32, 32), 30.0, 5.0)) == {"C0": 28.0, "C1": 28.0}
    assert _currents(curb.update(_sessions(32, 32), 30.0, 5.0)) == {"C0": None, "C1": None}


@pytest.mark.parametrize(("load", "age"), [(50.0, 61.0), (None, None)])
def test_stale_or_missing_load_falls_back_to_the_safe_limit(
    load: float | None, age: float | None
) -> None:
    curb = Curb(CONFIG)
    curb.update(_sessions(32, 4), 50.0, 5.0)  # 32 released, 4 released
    limits = curb.update(_sessions(32, 4), load, age)
    # never unlimited: the safe 6 A, or the charger's own 4 A if that is less
    assert _currents(limits) == {"C0": 6.0, "C1": 4.0}
    assert {limit.reason for limit in limits.values()} == {STALE}
    assert curb.headroom_kw is None

"""A warped clock anchored at a real instant gives the same simulated now in any process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from headend.cli.run import shared_clock
from headend.clock import WarpedClock
from headend.config.errors import ConfigError
from headend.config.fleet import load_fleet_config

START = datetime(2026, 7, 16, 0, 10, tzinfo=UTC)
ANCHOR = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


class FakeTime:
    """Wall and monotonic seconds of one machine; each process has its own monotonic origin."""

    def __init__(self, wall: float, monotonic: float) -> None:
        self.wall = wall
        self.monotonic = monotonic

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.monotonic += seconds


def test_a_clock_started_later_with_the_same_anchor_shows_the_same_now() -> None:
    simulator = FakeTime(wall=ANCHOR.timestamp(), monotonic=1000.0)
    first = WarpedClock(
        START, 60.0, ANCHOR, wall=lambda: simulator.wall, monotonic=lambda: simulator.monotonic
    )
    simulator.advance(95.0)
    headend = FakeTime(wall=simulator.wall, monotonic=5.0)  # another process, another origin
    second = WarpedClock(
        START, 60.0, ANCHOR, wall=lambda: headend.wall, monotonic=lambda: headend.monotonic
    )
    simulator.advance(10.0)
    headend.advance(10.0)
    assert first.now() == second.now() == START + timedelta(seconds=105 * 60)


def test_without_an_anchor_the_clock_starts_now() -> None:
    machine = FakeTime(wall=ANCHOR.timestamp(), monotonic=50.0)
    clock = WarpedClock(START, 10.0, wall=lambda: machine.wall, monotonic=lambda: machine.monotonic)
    assert clock.anchor == ANCHOR
    machine.advance(3.0)
    assert clock.now() == START + timedelta(seconds=30)


def test_a_naive_anchor_is_refused() -> None:
    with pytest.raises(ValueError, match="anchor"):
        WarpedClock(START, 1.0, datetime(2026, 12, 2))  # noqa: DTZ001


FLEET = """
[[channels]]
name = "bus-1"
url = "tcp://127.0.0.1:9001"

[clock]
{clock}
"""


def test_clock_table_takes_start_speed_and_anchor_as_toml_or_iso_text(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(
        FLEET.format(
            clock='start = 2026-07-16T00:10:00+08:00\nspeed = 60\nanchor = "2026-12-02T00:00:00Z"'
        )
    )
    clock = load_fleet_config(path).clock
    assert clock.start == datetime(2026, 7, 15, 16, 10, tzinfo=UTC)
    assert clock.speed == 60.0
    assert clock.anchor == ANCHOR


def test_without_start_the_headend_keeps_the_wall_clock(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET.format(clock='drift_threshold = "1m"'))
    clock = load_fleet_config(path).clock
    assert clock.start is None
    assert shared_clock(clock) is None


@pytest.mark.parametrize(
    ("clock", "key", "problem"),
    [
        ("speed = 60", "clock.speed", "needs [clock] start"),
        ('start = "2026-07-16T00:10:00"', "clock.start", "no UTC offset"),
        ("start = 2026-07-16T00:10:00", "clock.start", "2026-07-16T00:10:00 has no UTC offset"),
        ('start = "yesterday"', "clock.start", "expected a date-time"),
        ("start = 2026-07-16T00:10:00+08:00\nspeed = 0", "clock.speed", "> 0"),
        ("start = 2026-07-16T00:10:00+08:00\nspeed = inf", "clock.speed", "finite"),
        ("start = 2026-07-16T00:10:00+08:00\nsped = 2", "clock.sped", "unknown key"),
    ],
)
def test_clock_mistakes_name_the_key(tmp_path: Path, clock: str, key: str, problem: str) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET.format(clock=clock))
    with pytest.raises(ConfigError) as info:
        load_fleet_config(path)
    assert info.value.key == key
    assert problem in info.value.problem

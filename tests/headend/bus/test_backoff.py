"""Backoff: the delay is drawn uniformly from [0, cap] (full jitter), as its docstring says."""

from __future__ import annotations

import random

import pytest

from headend.bus.backoff import Backoff

DRAWS = 20_000
BINS = 10


def test_full_jitter_spreads_delays_uniformly_from_zero_to_the_cap() -> None:
    backoff = Backoff(base=0.5, maximum=30.0)
    cap = backoff.cap(3)
    assert cap == pytest.approx(2.0)
    rng = random.Random(12)
    delays = [backoff.delay(3, rng) for _ in range(DRAWS)]
    assert all(0.0 <= delay <= cap for delay in delays)
    counts = [0] * BINS
    for delay in delays:
        counts[min(BINS - 1, int(delay / cap * BINS))] += 1
    # Each tenth of [0, cap] holds about a tenth of the draws: 2000 +- 3 standard deviations.
    expected = DRAWS / BINS
    spread = 3 * (DRAWS * (1 / BINS) * (1 - 1 / BINS)) ** 0.5
    assert all(abs(count - expected) < spread for count in counts), counts


def test_the_cap_grows_by_the_factor_up_to_the_maximum() -> None:
    backoff = Backoff(base=1.0, maximum=10.0, factor=3.0)
    assert [backoff.cap(attempt) for attempt in (1, 2, 3, 4)] == [1.0, 3.0, 9.0, 10.0]


def test_without_jitter_the_delay_is_the_cap() -> None:
    backoff = Backoff(base=1.0, maximum=60.0, jitter=False)
    assert [backoff.delay(attempt, random.Random(0)) for attempt in (1, 2, 7)] == [1.0, 2.0, 60.0]

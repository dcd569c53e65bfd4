"""The collector is off inside a pause and as it was after, whatever the block did."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from headend.gc_tuning import paused_gc


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()


def test_the_collector_is_off_inside_and_on_again_after() -> None:
    gc.enable()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause did not end the outer one
    assert gc.isenabled()


def test_the_collector_is_on_again_after_an_error() -> None:
    gc.enable()
    with pytest.raises(ValueError, match="bad meter"), paused_gc():
        raise ValueError("bad meter")
    assert gc.isenabled()


def test_a_collector_turned_off_by_the_caller_stays_off() -> None:
    gc.disable()
    with paused_gc():
        assert not gc.isenabled()
    assert not gc.isenabled()

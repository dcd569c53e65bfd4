"""Delivery plans: each fault does exactly its one thing, and seeds make runs repeat."""

from __future__ import annotations

import pytest

from transports import (
    Delay,
    Disconnect,
    Drop,
    Duplicate,
    FaultInjector,
    FlipBits,
    ReplaceBytes,
    Split,
    Truncate,
)

FRAME = bytes.fromhex("68 11 22 33 44 55 66 68 11 04 33 33 34 33 AE 16")


def test_no_fault_delivers_the_write_as_one_immediate_chunk() -> None:
    plan = FaultInjector().plan(FRAME)
    assert plan.payload == FRAME
    assert [chunk.gap for chunk in plan.chunks] == [0.0]
    assert not plan.disconnect


def test_drop_delivers_nothing() -> None:
    assert FaultInjector().next_write(Drop()).plan(FRAME).chunks == ()


def test_delay_puts_the_gap_before_the_first_chunk() -> None:
    plan = FaultInjector().next_write(Delay(0.25)).plan(FRAME)
    assert plan.payload == FRAME
    assert plan.chunks[0].gap == 0.25


def test_flip_bits_changes_exactly_that_many_bits() -> None:
    for count in (1, 3):
        plan = FaultInjector(seed=7).next_write(FlipBits(count)).plan(FRAME)
        flipped = sum(bin(a ^ b).count("1") for a, b in zip(plan.payload, FRAME, strict=True))
        # Two flips could land on the same bit and cancel out; never more than count.
        assert 0 < flipped <= count
        assert flipped % 2 == count % 2


def test_flip_bits_is_repeatable_for_a_seed_and_differs_between_seeds() -> None:
    def corrupt(seed: int) -> bytes:
        return FaultInjector(seed=seed).next_write(FlipBits(4)).plan(FRAME).payload

    assert corrupt(1) == corrupt(1)
    assert len({corrupt(seed) for seed in range(5)}) > 1


def test_replace_bytes_overwrites_in_place() -> None:
    plan = FaultInjector().next_write(ReplaceBytes(offset=2, data=b"\xff\xee")).plan(FRAME)
    assert plan.payload == FRAME[:2] + b"\xff\xee" + FRAME[4:]


def test_replace_beyond_the_write_is_an_error_naming_the_range() -> None:
    injector = FaultInjector().next_write(ReplaceBytes(offset=len(FRAME), data=b"x"))
    with pytest.raises(ValueError, match="beyond a 16-byte write"):
        injector.plan(FRAME)


def test_truncate_keeps_the_head() -> None:
    assert FaultInjector().next_write(Truncate(5)).plan(FRAME).payload == FRAME[:5]


def test_duplicate_repeats_the_payload() -> None:
    assert FaultInjector().next_write(Duplicate(2)).plan(FRAME).payload == FRAME * 3


def test_split_cuts_into_chunks_with_gaps_and_keeps_the_bytes() -> None:
    plan = FaultInjector().next_write(Split(chunk_size=5, gap=0.01), Delay(1.0)).plan(FRAME)
    assert [len(chunk.data) for chunk in plan.chunks] == [5, 5, 5, 1]
    assert [chunk.gap for chunk in plan.chunks] == [1.0, 0.01, 0.01, 0.01]
    assert plan.payload == FRAME


def test_disconnect_marks_the_plan_after_its_bytes() -> None:
    plan = FaultInjector().next_write(Truncate(3), Disconnect()).plan(FRAME)
    assert plan.payload == FRAME[:3]
    assert plan.disconnect


def test_edits_happen_before_shaping_whatever_the_argument_order() -> None:
    a = FaultInjector().next_write(Split(4), Truncate(6), Duplicate()).plan(FRAME)
    b = FaultInjector().next_write(Duplicate(), Truncate(6), Split(4)).plan(FRAME)
    assert a == b
    assert a.payload == FRAME[:6] * 2


def test_scripted_faults_hit_only_their_write() -> None:
    injector = FaultInjector().at_write(1, Drop())
    payloads = [injector.plan(FRAME).payload for _ in range(3)]
    assert payloads == [FRAME, b"", FRAME]
    assert injector.history == [(1, (Drop(),))]


def test_every_write_applies_until_cleared() -> None:
    injector = FaultInjector().every_write(Truncate(1))
    assert injector.plan(FRAME).payload == FRAME[:1]
    assert injector.plan(FRAME).payload == FRAME[:1]
    injector.clear()
    assert injector.plan(FRAME).payload == FRAME


def test_scripting_a_past_write_is_refused() -> None:
    injector = FaultInjector()
    injector.plan(FRAME)
    with pytest.raises(ValueError, match="already happened"):
        injector.at_write(0, Drop())


def test_random_faults_repeat_for_a_seed() -> None:
    def dropped(seed: int) -> list[int]:
        injector = FaultInjector(seed=seed).randomly(0.3, Drop())
        return [i for i in range(200) if not injector.plan(FRAME).chunks]

    first = dropped(42)
    assert first == dropped(42)
    assert 0 < len(first) < 200
    assert first != dropped(43)


@pytest.mark.parametrize("probability", [0.0, 1.0])
def test_random_probability_extremes(probability: float) -> None:
    injector = FaultInjector().randomly(probability, Drop())
    results = {bool(injector.plan(FRAME).chunks) for _ in range(20)}
    assert results == {probability == 0.0}


@pytest.mark.parametrize(
    "build",
    [
        lambda: Delay(-1),
        lambda: FlipBits(0),
        lambda: ReplaceBytes(-1, b"x"),
        lambda: ReplaceBytes(0, b""),
        lambda: Truncate(-1),
        lambda: Split(0),
        lambda: Split(1, gap=-0.1),
        lambda: Duplicate(0),
        lambda: FaultInjector().randomly(1.5, Drop()),
    ],
)
def test_bad_fault_parameters_are_rejected(build: object) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=r"must be|need"):
        build()

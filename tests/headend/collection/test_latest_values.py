"""``LatestValues``' read side: each meter's encoded values kept until its next value, and the
meters kept in order, so the fleet-wide list costs what changed, not the whole fleet."""

from __future__ import annotations

from datetime import UTC, datetime

from headend.collection.live import LatestValues
from storage.records import Reading

AT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


class CountingEncoder:
    """Encodes a meter's readings as ``meter:quantity=value;...`` and remembers each call."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str]]] = []

    def __call__(self, readings: list[Reading]) -> bytes:
        self.calls.append([(r.meter, r.quantity) for r in readings])
        return ";".join(f"{r.meter}:{r.quantity}={r.value}" for r in readings).encode()


def voltage(meter: str, quantity: str, value: float) -> Reading:
    return Reading(meter, quantity, value, "V", AT)


def test_a_meters_values_are_encoded_in_quantity_order_once_per_change() -> None:
    latest = LatestValues()
    latest.set(voltage("m1", "voltage_b", 231.0))
    latest.set(voltage("m1", "voltage_a", 230.0))
    encode = CountingEncoder()
    first = latest.encoded_of("m1", encode)
    assert first == b"m1:voltage_a=230.0;m1:voltage_b=231.0"
    assert latest.encoded_of("m1", encode) is first
    assert len(encode.calls) == 1, "unchanged values are not encoded again"
    latest.set(voltage("m1", "voltage_a", 229.0))
    assert latest.encoded_of("m1", encode) == b"m1:voltage_a=229.0;m1:voltage_b=231.0"
    assert len(encode.calls) == 2, "a new value is encoded at the next request"


def test_a_meter_without_values_is_encoded_empty_and_not_kept() -> None:
    latest = LatestValues()
    encode = CountingEncoder()
    assert latest.encoded_of("m9", encode) == b""
    latest.set(voltage("m9", "voltage_a", 230.0))
    assert latest.encoded_of("m9", encode) == b"m9:voltage_a=230.0"


def join(rows: list[bytes]) -> bytes:
    return b"|".join(rows)


def test_the_fleet_is_encoded_in_meter_order_reencoding_only_changed_meters() -> None:
    latest = LatestValues()
    for meter in ("m3", "m1", "m2"):
        latest.set(voltage(meter, "voltage_a", 230.0))
    encode = CountingEncoder()
    first = latest.encoded_fleet(encode, join)
    assert first == b"m1:voltage_a=230.0|m2:voltage_a=230.0|m3:voltage_a=230.0"
    assert len(encode.calls) == 3
    assert latest.encoded_fleet(encode, join) is first, "no new value: the same body"
    latest.set(voltage("m2", "voltage_a", 232.0))
    latest.set(voltage("m0", "voltage_a", 228.0))  # a new meter takes its place in the order
    assert latest.encoded_fleet(encode, join) == (
        b"m0:voltage_a=228.0|m1:voltage_a=230.0|m2:voltage_a=232.0|m3:voltage_a=230.0"
    )
    assert encode.calls[3:] == [[("m0", "voltage_a")], [("m2", "voltage_a")]]
    assert latest.meters() == ["m0", "m1", "m2", "m3"]
    assert len(latest) == 4


def test_a_new_value_of_a_known_quantity_changes_the_fleet_body() -> None:
    latest = LatestValues()
    latest.set(voltage("m1", "voltage_a", 230.0))
    encode = CountingEncoder()
    assert latest.encoded_fleet(encode, join) == b"m1:voltage_a=230.0"
    latest.set(voltage("m1", "voltage_a", 231.0))
    assert latest.encoded_fleet(encode, join) == b"m1:voltage_a=231.0"

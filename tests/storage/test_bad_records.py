"""One bad record never blocks the others: refused at config load where it can be, and where
it reaches storage anyway, set aside alone (per record, per line) while the rest is stored."""

from __future__ import annotations

import math
import sqlite3
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from headend.collection.registry import MeterRegistry
from headend.config.errors import ConfigError
from headend.config.fleet import MeterConfig, parse_fleet_config
from headend.config.meters import RegistryError
from storage.embedded import SqliteStore
from storage.influx_v1 import InfluxV1Sink
from storage.influx_v2 import InfluxV2Sink
from storage.line_protocol import LineEncoder, timestamp_ns
from storage.outbox import open_outbox
from storage.records import Reading, ReadingKind
from storage.retry import RetryPolicy
from tests.support.influx_servers import InfluxDB16, VictoriaMetrics

QUICK = RetryPolicy(attempts=1, initial_delay_s=0.01, max_delay_s=0.05)
T0 = datetime(2026, 3, 1, tzinfo=UTC)
T0_NS = timestamp_ns(T0)
UNSTORABLE = ["B\n2", "B2\\", "B\\ 2", "B\r2"]


def fleet(building: str) -> dict[str, object]:
    return {
        "channels": [{"name": "bus-1", "url": "memory://bus-1"}],
        "transformers": [{"name": "T1", "rated_kva": 400}],
        "plans": {"flat": {"reads": [{"quantities": ["voltage_a"], "interval": "1m"}]}},
        "meters": [
            {"address": "000000000001", "channel": "bus-1", "plan": "flat", "building": building}
        ],
    }


def reading(meter: str, index: int, **tags: str) -> Reading:
    return Reading(
        meter,
        "energy_active_import_total",
        float(index),
        "kWh",
        T0 + timedelta(minutes=index),
        ReadingKind.ENERGY,
        tags=tags,
    )


@pytest.mark.parametrize("building", UNSTORABLE)
def test_fleet_config_refuses_a_tag_value_storage_cannot_write(building: str) -> None:
    with pytest.raises(ConfigError, match=r"fleet\.toml: meters\[0\]\.building \(meter \w+\): "):
        parse_fleet_config(fleet(building), "fleet.toml")


@pytest.mark.parametrize("building", UNSTORABLE)
def test_a_fleet_change_refuses_a_tag_value_storage_cannot_write(building: str) -> None:
    registry = MeterRegistry(parse_fleet_config(fleet("B1"), "fleet.toml"))
    meter = MeterConfig(
        id="000000000002",
        channel="bus-1",
        protocol="dlt645-2007",
        plan="flat",
        address="000000000002",
        building=building,
    )
    with pytest.raises(RegistryError, match="meter 000000000002: building: "):
        registry.add(meter)
    assert "000000000002" not in registry


def test_tag_values_that_escape_are_accepted() -> None:
    config = parse_fleet_config(fleet("B 2,=\\x 楼"), "fleet.toml")
    assert config.meters["000000000001"].building == "B 2,=\\x 楼"


async def test_bad_records_are_dead_lettered_and_the_rest_reach_victoria_metrics(
    victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    good = [reading("GOOD-VM", i, building="B 1") for i in range(5)]
    backslash = reading("BAD-VM", 5, building="B1\\")
    not_finite = Reading("BAD-VM", "voltage_a", math.nan, "V", T0)
    target = InfluxV2Sink(victoria_metrics.url, bucket="b", org="o", retry=QUICK)
    path = tmp_path / "outbox.db"
    async with open_outbox(path, target, backoff=QUICK) as outbox:
        await outbox.write([*good[:2], backslash, *good[2:4], not_finite, good[4]])
        await outbox.write([reading("GOOD-VM", 6)])  # the next batch is not held back either
        await outbox.wait_drained()
        stats = outbox.stats()
    assert (stats.delivered_points, stats.dead_letter_points) == (6, 2)
    [series] = victoria_metrics.export('energy_value{meter="GOOD-VM",building="B 1"}')
    assert sorted(series["values"]) == [float(i) for i in range(5)]
    assert victoria_metrics.export('{meter="BAD-VM"}') == []
    with sqlite3.connect(path) as connection:
        dead = connection.execute("SELECT payload, error FROM dead_letter ORDER BY id").fetchall()
    assert len(dead) == 2
    assert "BAD-VM" in dead[0][0].decode()
    assert "backslash" in dead[0][1]
    assert "BAD-VM" in dead[1][0].decode()
    assert "not finite" in dead[1][1]


async def test_a_line_the_server_refuses_is_dead_lettered_alone(
    influxdb16: InfluxDB16, influx_database: str, tmp_path: Path
) -> None:
    # The field `value` of measurement `state` becomes a string in this shard, so InfluxDB
    # refuses our float for it: a real 400 for one line of a row of ten.
    influxdb16_write(influxdb16, influx_database, f'state,meter=OTHER value="text" {T0_NS}')
    rows = [reading("GOOD-16", i) for i in range(9)]
    conflicting = Reading("BAD-16", "relay", 1.0, "", T0, ReadingKind.STATE)
    target = InfluxV1Sink(influxdb16.url, database=influx_database, retry=QUICK)
    path = tmp_path / "outbox.db"
    async with open_outbox(path, target, backoff=QUICK) as outbox:
        await outbox.write([*rows[:4], conflicting, *rows[4:]])
        await outbox.wait_drained()
        stats = outbox.stats()
    assert (stats.delivered_points, stats.dead_letter_points) == (9, 1)
    result = influxdb16.query('SELECT "value" FROM "energy"', influx_database)
    assert [row[1] for row in result["series"][0]["values"]] == [float(i) for i in range(9)]
    with sqlite3.connect(path) as connection:
        [(payload, error)] = connection.execute("SELECT payload, error FROM dead_letter")
    assert payload.decode() == LineEncoder().encode(conflicting)
    assert "HTTP 400" in error
    assert "field type conflict" in error


async def test_the_embedded_store_sets_a_bad_record_aside_and_stores_the_rest(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        bad = Reading("M1", "energy_active_import_total", math.inf, "kWh", T0, ReadingKind.ENERGY)
        await store.write([reading("M1", 1), bad, reading("M1", 2)])
        stored = await store.stored_points(
            ReadingKind.ENERGY, ["M1"], ["energy_active_import_total"], T0, T0 + timedelta(1)
        )
        assert store.dead_letters == 1
    finally:
        await store.aclose()
    assert [point.value for point in stored] == [1.0, 2.0]
    with sqlite3.connect(tmp_path / "store.sqlite") as connection:
        [(record, error)] = connection.execute("SELECT record, error FROM dead_letter")
    assert "inf" in record
    assert "not finite" in error


def influxdb16_write(server: InfluxDB16, database: str, line: str) -> None:
    request = urllib.request.Request(f"{server.url}/write?db={database}", data=line.encode())
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 204

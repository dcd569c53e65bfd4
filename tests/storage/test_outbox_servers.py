"""The outbox against real servers: one stopped and restarted mid-run, a writer killed with -9."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.influx_v1 import InfluxV1Sink
from storage.influx_v2 import InfluxV2Sink
from storage.line_protocol import timestamp_ns
from storage.outbox import open_outbox
from storage.records import Reading, ReadingKind
from storage.retry import RetryPolicy
from tests.storage.outbox_writer import BATCH
from tests.support.influx_servers import InfluxDB16, VictoriaMetrics

QUICK = RetryPolicy(attempts=1, initial_delay_s=0.05, max_delay_s=0.3)
T0 = datetime(2026, 3, 1, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def _batch(first: int, count: int) -> list[Reading]:
    return [
        Reading(
            "OUTAGE",
            "energy_active_import_total",
            float(i),
            "kWh",
            T0 + timedelta(minutes=i),
            ReadingKind.ENERGY,
        )
        for i in range(first, first + count)
    ]


async def test_server_stopped_and_restarted_mid_run(
    own_victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    server = own_victoria_metrics
    target = InfluxV2Sink(server.url, bucket="b", org="o", retry=RetryPolicy(attempts=1))
    async with open_outbox(tmp_path / "outbox.db", target, backoff=QUICK) as outbox:
        await outbox.write(_batch(0, 50))
        await outbox.wait_drained()
        await asyncio.to_thread(server.stop)
        for first in range(50, 200, 50):
            await outbox.write(_batch(first, 50))
        assert outbox.stats().pending_points == 150
        await asyncio.to_thread(server.start)
        async with asyncio.timeout(30):
            await outbox.wait_drained()
        assert outbox.stats().delivered_points == 200
    [series] = server.export('energy_value{meter="OUTAGE"}')
    stored = sorted(zip(series["timestamps"], series["values"], strict=True))
    expected = [(timestamp_ns(r.timestamp) // 1_000_000, r.value) for r in _batch(0, 200)]
    assert sorted(set(stored)) == expected


async def test_kill_9_mid_batch_loses_no_acknowledged_reading(
    influxdb16: InfluxDB16, influx_database: str, tmp_path: Path
) -> None:
    path = tmp_path / "outbox.db"
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.storage.outbox_writer",
        str(path),
        influxdb16.url,
        influx_database,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert writer.stdout is not None
    acked = 0
    try:
        async with asyncio.timeout(60):
            while acked < 30:
                line = await writer.stdout.readline()
                if not line:
                    break
                acked = int(line.split()[1])
    finally:
        writer.send_signal(signal.SIGKILL)  # mid-run: the next batch is being written or sent
        await writer.wait()
    assert acked >= 30, "writer died before acknowledging 30 batches"

    target = InfluxV1Sink(influxdb16.url, database=influx_database, retry=RetryPolicy(attempts=1))
    async with open_outbox(path, target, backoff=QUICK) as outbox:
        async with asyncio.timeout(30):
            await outbox.wait_drained()
    result = influxdb16.query('SELECT "value" FROM "energy"', influx_database)
    values = {row[1] for series in result["series"] for row in series["values"]}
    assert set(range(acked * BATCH)) <= values
    count = influxdb16.query('SELECT COUNT("value") FROM "energy"', influx_database)
    # Resent batches overwrite themselves: one point per value, never two.
    assert count["series"][0]["values"][0][1] == len(values)

"""A writer process for the kill -9 test: writes numbered batches through an outbox forever.

Prints ``acked <batches>`` after each write returns, i.e. after the outbox acknowledged it.
Run as ``python -m tests.storage.outbox_writer OUTBOX_PATH INFLUX_URL DATABASE``.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from storage.influx_v1 import InfluxV1Sink
from storage.outbox import open_outbox
from storage.records import Reading, ReadingKind
from storage.retry import RetryPolicy

BATCH = 100
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def batch_readings(number: int) -> list[Reading]:
    """Batch ``number``: readings whose value is their global sequence number."""
    return [
        Reading(
            f"K{index % 10}",
            "energy_active_import_total",
            float(number * BATCH + index),
            "kWh",
            T0 + timedelta(seconds=number * BATCH + index),
            ReadingKind.ENERGY,
        )
        for index in range(BATCH)
    ]


async def main(path: str, url: str, database: str) -> None:
    target = InfluxV1Sink(url, database=database, retry=RetryPolicy(attempts=1))
    async with open_outbox(path, target) as outbox:
        number = 0
        while True:
            await outbox.write(batch_readings(number))
            number += 1
            print(f"acked {number}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))

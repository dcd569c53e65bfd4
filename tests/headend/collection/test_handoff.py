"""The daily hand-off over a real embedded store: once per day at its time (once at start when
the time has passed), a correction with only what changed when late values arrive, and a
webhook that is down retried, counted and not lost across a restart."""

from __future__ import annotations

import asyncio
import contextlib
import csv
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import aiohttp

from headend.clock import WarpedClock
from headend.collection.handoff import DailyHandoff, handoff_for
from headend.collection.handoff_webhook import HandoffWebhook
from headend.collection.kpi_snapshots import snapshots_for
from headend.collection.registry import MeterRegistry
from headend.config.fleet import FleetConfig, parse_fleet_config
from storage.archive.records import ArchiveMeter, MeterExchange
from storage.archive.store import ArchiveStore
from storage.embedded import SqliteStore
from storage.handoff.ledger import DeliveryState, Destination, HandoffLedger
from storage.records import Quality, Reading, ReadingKind
from tests.support.concentrator_fleet import NOW, TODAY, TZ, concentrator_fleet
from tests.support.webhook_receiver import WebhookReceiver

TOTAL = "energy_active_import_total"
FREEZE = datetime.combine(TODAY, time(), TZ).astimezone(UTC)
"""2026-12-02 00:00 in Shanghai: the freeze billed on TODAY (the end of December 1st)."""


def fleet(tmp_path: Path, **handoff: object) -> FleetConfig:
    document = concentrator_fleet()
    document["handoff"] = {"folder": str(tmp_path / "out"), "time": "00:10", **handoff}
    return parse_fleet_config(document, "test")


def frozen(meter: str, value: float, quality: Quality, at: datetime = FREEZE) -> Reading:
    return Reading(meter, TOTAL, value, "kWh", at, ReadingKind.FROZEN, quality)


def make(
    config: FleetConfig, store: SqliteStore, tmp_path: Path, archive: Path | None = None
) -> DailyHandoff:
    clock = WarpedClock(NOW.astimezone(UTC), speed=1)  # 00:30 local: the 00:10 time passed
    kpi = snapshots_for(config, [], store, clock, tmp_path / "kpi.sqlite", None, 3600.0)
    made = handoff_for(
        config, store, clock, tmp_path / "data", kpi, MeterRegistry(config), archive, None
    )
    assert made is not None
    return made


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as text:
        return list(csv.DictReader(text))


async def test_a_restart_after_the_time_hands_off_once_and_a_late_value_is_a_correction(
    tmp_path: Path,
) -> None:
    config = fleet(tmp_path)
    out = tmp_path / "out"
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        await store.write(
            [frozen("m1", 850.5, Quality.ACTUAL), frozen("m2", 900.0, Quality.ESTIMATED)]
        )
        first = await make(config, store, tmp_path).run_pass()
        again = await make(config, store, tmp_path).run_pass()  # a restart: nothing new
        # Late values: m2's measured value replaces the estimate, m3's arrives; and the next
        # day's freeze, whose day is not handed off yet, makes no correction.
        await store.write(
            [
                frozen("m2", 901.25, Quality.BACKFILLED),
                frozen("m3", 950.0, Quality.BACKFILLED),
                frozen("m1", 856.0, Quality.ACTUAL, FREEZE + timedelta(days=1)),
            ]
        )
        late = await make(config, store, tmp_path).run_pass()
        quiet = await make(config, store, tmp_path).run_pass()
    finally:
        await store.aclose()

    assert [(h.day, h.sequence, h.kind.value, h.rows) for h in first] == [(TODAY, 0, "daily", 2)]
    assert again == []
    assert quiet == []
    assert [(h.day, h.sequence, h.kind.value, h.rows) for h in late] == [
        (TODAY, 1, "correction", 2)
    ]
    daily = rows(out / "settlement-2026-12-02-00.csv")
    assert [(r["meter"], r["value"], r["quality"], r["household"]) for r in daily] == [
        ("m1", "850.5", "actual", "flat-1"),
        ("m2", "900.0", "estimated", "flat-2"),
    ]
    assert daily[0]["timestamp_local"] == "2026-12-02T00:00:00+08:00"
    assert daily[0]["timestamp_utc"] == "2026-12-01T16:00:00+00:00"
    assert daily[0]["day"] == "2026-12-02"
    correction = rows(out / "settlement-2026-12-02-01.csv")
    assert [(r["meter"], r["value"], r["quality"]) for r in correction] == [
        ("m2", "901.25", "backfilled"),
        ("m3", "950.0", "backfilled"),
    ]
    kpi_daily = {r["dimension"]: r for r in rows(out / "kpi-2026-12-02-00.csv")}
    kpi_late = {r["dimension"]: r for r in rows(out / "kpi-2026-12-02-01.csv")}
    # m1 first attempt; m2's estimate is not a collected value; m3 nothing yet.
    assert [kpi_daily["total"][k] for k in ("due", "first_attempt", "backfilled", "missing")] == [
        "3", "1", "0", "2"
    ]  # fmt: skip
    assert [kpi_late["total"][k] for k in ("due", "first_attempt", "backfilled", "missing")] == [
        "3", "1", "2", "0"
    ]  # fmt: skip
    assert kpi_late["terminal"]["group"] == "jzq-T1"
    assert not list(out.glob(".*"))  # no temporary file left behind
    with HandoffLedger.open(tmp_path / "data" / "handoffs.sqlite") as ledger:
        kept = ledger.handoffs()
    assert [(h.sequence, h.after) for h in kept] == [(0, 0), (1, kept[0].upto)]
    assert all(d.state is DeliveryState.DELIVERED for h in kept for d in h.deliveries)


async def test_the_archive_s_exchange_reads_are_handed_off_with_the_day(tmp_path: Path) -> None:
    """Logged before the pass, as a poll of the export logs them: the crew's reads of an
    exchange in the day reach the billing system with their usage point and linked meter."""
    archive = tmp_path / "archive.sqlite"
    at = FREEZE + timedelta(minutes=10)  # 00:10 local on TODAY, before the clock's 00:30
    with ArchiveStore.open(archive) as kept:
        kept.import_meters([ArchiveMeter(id="m1", address="000000000001")])
        kept.record_exchange(
            MeterExchange("m1", "m1b", at, {TOTAL: 850.75}, {TOTAL: 0.25}),
            ArchiveMeter(id="m1b", address="000000000011"),
        )
    config = fleet(tmp_path)
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        await store.write([frozen("m1", 850.5, Quality.ACTUAL)])
        made = await make(config, store, tmp_path, archive).run_pass()
    finally:
        await store.aclose()
    assert [(h.sequence, h.rows) for h in made] == [(0, 3)]
    daily = rows(tmp_path / "out" / "settlement-2026-12-02-00.csv")
    assert [(r["meter"], r["value"], r["reading"], r["linked_meter"]) for r in daily] == [
        ("m1", "850.5", "daily_freeze", ""),
        ("m1", "850.75", "exchange_final", "m1b"),
        ("m1b", "0.25", "exchange_initial", "m1"),
    ]
    assert {r["usage_point"] for r in daily} == {"m1"}


async def test_the_first_start_before_the_time_waits_for_it(tmp_path: Path) -> None:
    config = fleet(tmp_path, time="12:00")
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        await store.write([frozen("m1", 850.5, Quality.ACTUAL)])
        handoff = make(config, store, tmp_path)
        made = await handoff.run_pass()
    finally:
        await store.aclose()
    assert made == []  # yesterday's is from before the hand-off began; today's is at noon
    with HandoffLedger.open(tmp_path / "data" / "handoffs.sqlite") as ledger:
        assert ledger.first_day() == TODAY


async def test_a_webhook_that_is_down_is_retried_counted_and_not_lost_on_restart(
    tmp_path: Path,
) -> None:
    receiver = WebhookReceiver(refuse_first=1)
    config = fleet(tmp_path, webhook=receiver.url)
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        await store.write([frozen("m1", 850.5, Quality.ACTUAL)])
        handoff = make(config, store, tmp_path)
        await handoff.run_pass()
    finally:
        await store.aclose()
    webhook = handoff.webhook
    assert webhook is not None
    with receiver.running():
        async with aiohttp.ClientSession() as session:
            assert not await webhook.deliver_pending(session)  # 503: still pending
            # A restart: a new webhook sender finds the pending delivery in the ledger.
            restarted = HandoffWebhook(
                receiver.url, webhook.folder, webhook.ledger_path, webhook.now
            )
            assert await restarted.deliver_pending(session)
            assert await restarted.deliver_pending(session)  # nothing left: nothing sent
    assert webhook.stats.failures == 1
    assert (restarted.stats.posts, restarted.stats.delivered, restarted.stats.pending) == (2, 1, 0)
    assert [p.status for p in receiver.posts] == [503, 200, 200]
    settlement, kpi = receiver.accepted
    assert settlement.headers["x-handoff-file"] == "settlement"
    assert settlement.headers["x-handoff-day"] == TODAY.isoformat()
    assert settlement.headers["x-handoff-kind"] == "daily"
    assert settlement.body == (tmp_path / "out" / "settlement-2026-12-02-00.csv").read_bytes()
    assert kpi.headers["idempotency-key"] == f"{TODAY.isoformat()}-0-kpi"
    with HandoffLedger.open(tmp_path / "data" / "handoffs.sqlite") as ledger:
        (kept,) = ledger.handoffs()
        assert ledger.pending(Destination.WEBHOOK) == []
    webhook_delivery = {d.destination: d for d in kept.deliveries}[Destination.WEBHOOK]
    assert (webhook_delivery.state, webhook_delivery.attempts) == (DeliveryState.DELIVERED, 2)
    assert webhook_delivery.last_error is None


def test_no_handoff_table_means_no_handoff(tmp_path: Path) -> None:
    config = parse_fleet_config(concentrator_fleet(), "test")
    clock = WarpedClock(NOW.astimezone(UTC), speed=1)
    made = handoff_for(config, object(), clock, tmp_path, None, MeterRegistry(config), None, None)
    assert made is None


async def test_the_sender_loop_retries_a_webhook_that_is_down_until_it_acknowledges(
    tmp_path: Path,
) -> None:
    receiver = WebhookReceiver(refuse_first=2)
    config = fleet(tmp_path, webhook=receiver.url, retry_max="50ms")
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    try:
        await store.write([frozen("m1", 850.5, Quality.ACTUAL)])
        handoff = make(config, store, tmp_path)
        await handoff.run_pass()
    finally:
        await store.aclose()
    webhook = handoff.webhook
    assert webhook is not None
    with receiver.running():
        sender = asyncio.create_task(webhook.loop())
        try:
            async with asyncio.timeout(30):
                await webhook.idle.wait()  # every hand-off delivered and recorded so
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
    assert [p.status for p in receiver.posts] == [503, 503, 200, 200]
    assert (webhook.stats.failures, webhook.stats.delivered) == (2, 1)
    with HandoffLedger.open(tmp_path / "data" / "handoffs.sqlite") as ledger:
        assert ledger.pending(Destination.WEBHOOK) == []

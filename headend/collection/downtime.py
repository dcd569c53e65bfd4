"""At start: what happened while the head-end was down, from what storage holds.

Without this, a restart forgets the day (completeness starts from zero) and every slot that fell
due while the process was stopped simply never existed: no reading, no gap, a success rate
computed over the slots the process happened to see. So before collection starts, storage is
asked for the recent scheduled readings of every (meter, read spec) pair:

- each stored slot is counted again in completeness (received, backfilled, or failed with its
  reason), so the figures of today and yesterday survive the restart;
- every slot between the last stored one and the first the collector will read becomes a
  ``missing`` reading with reason ``headend_down``, stored and counted like any other gap;
- the stored daily frozen values count again too (``restore_frozen_days``, from the points
  backfill seeds itself with).

The look-back is bounded (``LOOKBACK_DAYS`` local days: what completeness reports on): a pair
with nothing stored in that window (a new meter, or a head-end down for longer) gets no
``headend_down`` slots, and the log says how many pairs that was. A slot is recognised as
scheduled by its stamp, an interval boundary; on-demand reads (stamped with the moment they
were asked) neither count nor end a gap. A spec's slot is judged by its first quantity.

Behind an outbox (the InfluxDB kinds) storage is the server, which has not yet seen what the
outbox still holds from the last run. A ``headend_down`` reading for such a slot would replay
after the real one and overwrite its quality with ``missing``, so gaps are recorded only once
the outbox has delivered its backlog (waited for ``OUTBOX_SETTLE_SECONDS`` at most).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from headend.collection.collector import ChannelCollector
from headend.collection.completeness import CompletenessTracker
from headend.collection.schedule import is_slot, slots_between
from headend.drivers.quantities import unit_and_kind
from storage.billing import BillingSource, StoredPoint
from storage.errors import StorageError
from storage.outbox import Outbox
from storage.records import Quality, Reading, ReadingKind
from storage.sink import Sink

log = logging.getLogger(__name__)

LOOKBACK_DAYS = 2
"""Today and yesterday (local), the days completeness reports on."""

OUTBOX_SETTLE_SECONDS = 10.0
"""How long start-up waits for an outbox's backlog to reach the server before it gives up
recording ``headend_down`` gaps (real seconds; a server that is up drains in well under that)."""


@dataclass(slots=True)
class DowntimeStats:
    restored_slots: int = 0
    """Stored slots counted again in completeness."""
    headend_down_slots: int = 0
    """Slots recorded missing with reason ``headend_down``."""
    pairs_without_history: int = 0
    """(meter, read spec) pairs with nothing stored in the look-back window."""
    unstored_slots: int = 0
    """``headend_down`` slots counted in completeness but not stored (storage refused)."""


def restore_frozen_days(
    completeness: CompletenessTracker, points: Iterable[StoredPoint], tz: ZoneInfo
) -> int:
    """Count the stored daily frozen values again (the backfill group), one per meter and day;
    returns how many. Backfill itself skips these days after a restart (it seeds from the
    same points), so without this they would vanish from completeness."""
    days = {
        (point.meter, point.timestamp.astimezone(tz).date()): point.quality
        for point in points
        if point.value is not None
    }
    for (meter_id, day), quality in days.items():
        completeness.restore(
            meter_id,
            datetime.combine(day, time(), tz),
            received=True,
            reason=None,
            backfilled=quality is Quality.BACKFILLED,
        )
    return len(days)


def lookback_start(now: datetime, tz: ZoneInfo) -> datetime:
    """Local midnight ``LOOKBACK_DAYS - 1`` days before today."""
    day = now.astimezone(tz).date() - timedelta(days=LOOKBACK_DAYS - 1)
    return datetime.combine(day, time(), tz)


async def recover(
    history: BillingSource,
    collectors: Iterable[ChannelCollector],
    completeness: CompletenessTracker,
    now: datetime,
    tz: ZoneInfo,
    store: Callable[[list[Reading]], Awaitable[None]],
    *,
    record_gaps: bool = True,
) -> DowntimeStats:
    """Rebuild completeness from storage and record the slots missed while down.

    ``store`` writes the ``headend_down`` readings (one meter's read spec at a time) and
    returns once they are durable, so they are on disk before collection starts. If it refuses
    (disk full), the gaps still count in completeness and no more are written.
    ``record_gaps=False`` (storage is not known to hold the last run's readings yet) only
    restores completeness.
    """
    stats = DowntimeStats()
    since = lookback_start(now, tz)
    for collector in collectors:
        first = collector.first_slots()
        # One query per (kind, quantity) on a channel, for all its meters that read it first.
        wanted: dict[tuple[ReadingKind, str], list[tuple[str, int]]] = {}
        for meter_id, spec_index in first:
            meter, spec = collector.read_spec(meter_id, spec_index)
            quantity = spec.quantities[0]
            kind = unit_and_kind(meter, quantity)[1]
            wanted.setdefault((kind, quantity), []).append((meter_id, spec_index))
        for (kind, quantity), pairs in wanted.items():
            meters = sorted({meter_id for meter_id, _ in pairs})
            points = await history.stored_points(kind, meters, [quantity], since, now)
            by_meter: dict[str, list[StoredPoint]] = {}
            for point in points:
                by_meter.setdefault(point.meter, []).append(point)
            for meter_id, spec_index in pairs:
                _, spec = collector.read_spec(meter_id, spec_index)
                slots = [
                    p
                    for p in by_meter.get(meter_id, [])
                    if is_slot(p.timestamp, spec.interval)
                    and p.timestamp < first[(meter_id, spec_index)]
                ]
                for point in slots:
                    completeness.restore(
                        meter_id,
                        point.timestamp,
                        received=point.quality is not Quality.MISSING,
                        reason=point.reason,
                        backfilled=point.quality is Quality.BACKFILLED,
                    )
                stats.restored_slots += len(slots)
                if not slots:
                    stats.pairs_without_history += 1
                    continue
                if not record_gaps:
                    continue
                last = max(point.timestamp for point in slots)
                missed = slots_between(last, first[(meter_id, spec_index)], spec.interval)
                if not missed:
                    continue
                readings = collector.headend_down(meter_id, spec_index, missed)
                stats.headend_down_slots += len(missed)
                if stats.unstored_slots:
                    stats.unstored_slots += len(missed)
                    continue
                try:
                    await store(readings)
                except StorageError as exc:  # still gaps in completeness; the rest is restored
                    log.error("cannot store the headend_down slots (not retried): %s", exc)
                    stats.unstored_slots += len(missed)
    if stats.headend_down_slots:
        log.warning(
            "%d slots fell due while the head-end was down: recorded missing (headend_down)",
            stats.headend_down_slots,
        )
    if stats.pairs_without_history:
        log.info(
            "%d meter read specs had nothing stored since %s: no headend_down slots for them",
            stats.pairs_without_history,
            since.isoformat(),
        )
    return stats


async def outbox_settled(sink: Sink) -> bool:
    """True once storage (read back from the server) holds everything the outbox kept from
    the last run; a gap recorded before that would overwrite readings still on their way."""
    if not isinstance(sink, Outbox):
        return True
    try:
        async with asyncio.timeout(OUTBOX_SETTLE_SECONDS):
            await sink.wait_drained()
    except TimeoutError:
        log.warning(
            "outbox still holds %d points of the last run: slots missed while the head-end "
            "was down are not recorded (headend_down) this time",
            sink.stats().pending_points,
        )
        return False
    return True

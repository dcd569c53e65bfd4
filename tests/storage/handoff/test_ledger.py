"""The hand-off ledger: the first day and cursor set once, a hand-off kept with its pending
deliveries, attempts counted, everything there after reopening; a newer file refused."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from storage.errors import HandoffLedgerError
from storage.handoff.ledger import (
    DeliveryState,
    Destination,
    Handoff,
    HandoffKind,
    HandoffLedger,
)

DAY = date(2026, 7, 18)
AT = datetime(2026, 7, 18, 4, 0, tzinfo=UTC)


def test_a_handoff_is_kept_with_its_deliveries_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "handoffs.sqlite"
    with HandoffLedger.open(path) as ledger:
        assert ledger.begin(DAY, 40) == DAY
        assert ledger.begin(date(2026, 8, 1), 99) == DAY  # the first start only
        daily = Handoff(DAY, 0, 0, 52, 12, ("s-00.csv", "k-00.csv"), AT)
        ledger.record(daily, (Destination.FOLDER, Destination.WEBHOOK))
        ledger.attempted(daily, Destination.WEBHOOK, AT, "HTTP 503")
        correction = Handoff(DAY, 1, 52, 60, 2, ("s-01.csv", "k-01.csv"), AT)
        ledger.record(correction, (Destination.WEBHOOK,), cursor=60)
    with HandoffLedger.open(path) as ledger:
        assert (ledger.first_day(), ledger.cursor(), ledger.last_daily_day()) == (DAY, 60, DAY)
        pending = ledger.pending(Destination.WEBHOOK)
        assert [(h.sequence, h.kind) for h in pending] == [
            (0, HandoffKind.DAILY),
            (1, HandoffKind.CORRECTION),
        ]
        latest = ledger.latest(DAY)
        ledger.attempted(pending[0], Destination.WEBHOOK, AT, None)
        kept = ledger.handoffs(DAY, DAY)
        assert ledger.latest(date(2026, 7, 19)) is None
    assert latest is not None
    assert latest.sequence == 1
    deliveries = {d.destination: d for d in kept[0].deliveries}
    assert deliveries[Destination.FOLDER].state is DeliveryState.DELIVERED
    webhook = deliveries[Destination.WEBHOOK]
    assert (webhook.state, webhook.attempts, webhook.last_error) == (
        DeliveryState.DELIVERED,
        2,
        None,
    )
    assert kept[0].files == ("s-00.csv", "k-00.csv")
    assert kept[0].rows == 12


def test_a_newer_ledger_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "handoffs.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 9")
    with pytest.raises(HandoffLedgerError, match=r"handoffs\.sqlite.*newer"):
        HandoffLedger.open(path)

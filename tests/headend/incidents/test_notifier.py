"""One notification per incident open / escalate / clear, at most the rate, retried."""

from __future__ import annotations

import asyncio
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from headend.config.errors import ConfigError
from headend.config.notify import NotifyTable, WebhookTable
from headend.incidents.book import IncidentBook
from headend.incidents.notifier import Notifier, Webhook, webhooks_of
from headend.incidents.rate_limit import DeliveryPace
from tests.headend.incidents.alarms import B1, alarm, at, closed, compound

TZ = ZoneInfo("Asia/Shanghai")


class Receiver:
    """A destination that answers as told and records what it got."""

    def __init__(self, answers: list[Any] | None = None) -> None:
        self.got: list[dict[str, Any]] = []
        self.answers = answers or []
        self.delivered = asyncio.Event()

    async def __call__(self, url: str, payload: dict[str, Any]) -> Any:
        self.got.append(payload)
        answer = self.answers.pop(0) if self.answers else {"errcode": 0}
        if isinstance(answer, Exception):
            raise answer
        if answer.get("errcode") == 0:
            self.delivered.set()
        return answer


def storm(book: IncidentBook) -> list[Any]:
    """An overload, its five meters' alarms one by one, worse values, then it all clears."""
    over = alarm("overload", "TTU-1", subject_kind="transformer", value=1.1, unit="ratio")
    lows = [alarm("voltage_low", m, minutes=i, value=195 - i) for i, m in enumerate(B1)]
    changes = book.reconcile([over], at(0))
    for i in range(1, 6):
        changes += book.reconcile([over, *lows[:i]], at(i))
    ends = [closed(a, 10) for a in [over, *lows]]
    changes += book.reconcile(ends, at(11))
    return changes


async def test_one_notification_per_open_and_clear_not_per_alarm() -> None:
    receiver = Receiver()
    hook = Webhook("ops", "http://robot.invalid/send", "wecom", per_minute=600, burst=10)
    notifier = Notifier([hook], TZ, post=receiver)
    for change in storm(IncidentBook(compound())):
        notifier.offer(change)
        notifier.offer(change)  # the same change offered twice is sent once

    async with asyncio.timeout(10), asyncio.TaskGroup() as group:
        task = group.create_task(notifier.run())
        while notifier.stats["ops"].sent < 2:
            await receiver.delivered.wait()
            receiver.delivered.clear()
        task.cancel()

    assert [p["msgtype"] for p in receiver.got] == ["markdown", "markdown"]
    texts = [p["markdown"]["content"] for p in receiver.got]
    assert "transformer_overload T1 opened" in texts[0]
    assert "transformer_overload T1 cleared" in texts[1]
    assert notifier.stats["ops"].queued == 2
    assert notifier.deduplicated >= 1


async def test_a_refusal_is_retried_then_delivered() -> None:
    receiver = Receiver([{"errcode": 45009, "errmsg": "api freq out of limit"}, OSError("reset")])
    hook = Webhook("ding", "http://robot.invalid/send", "dingtalk", retries=3, backoff_s=0.01)
    notifier = Notifier([hook], TZ, post=receiver, min_severity="info")
    notifier.offer(storm(IncidentBook(compound()))[0])

    async with asyncio.timeout(10), asyncio.TaskGroup() as group:
        task = group.create_task(notifier.run())
        await receiver.delivered.wait()
        task.cancel()

    assert len(receiver.got) == 3
    assert receiver.got[-1]["markdown"]["title"].startswith("[CRITICAL] transformer_overload T1")
    stats = notifier.stats["ding"]
    assert (stats.sent, stats.retries, stats.failed) == (1, 2, 0)


def test_below_the_minimum_severity_nothing_is_queued() -> None:
    notifier = Notifier([Webhook("ops", "http://x.invalid/")], TZ, min_severity="critical")
    book = IncidentBook(compound())
    for change in book.reconcile([alarm("voltage_low", B1[0], value=195)], at(1)):  # major
        notifier.offer(change)
    assert notifier.stats["ops"].queued == 0


def test_a_full_queue_drops_and_counts() -> None:
    notifier = Notifier([Webhook("ops", "http://x.invalid/")], TZ, queue_size=1)
    book = IncidentBook(compound())
    changes = book.reconcile(
        [alarm("voltage_low", B1[0], value=195), alarm("meter_offline", "B2-01")], at(1)
    )
    changes += book.reconcile([alarm("voltage_low", "B3-01", value=195)], at(2))
    for change in changes:
        notifier.offer(change)
    # Queued: B1 opened. Dropped: B3 opened, B1 cleared. B2-01 alone is minor: not offered.
    assert (notifier.stats["ops"].queued, notifier.stats["ops"].dropped) == (1, 2)


def test_token_bucket_paces_after_the_burst() -> None:
    bucket = DeliveryPace(per_minute=6, burst=2)  # one token every 10 s
    assert bucket.take(0.0)
    assert bucket.take(0.0)
    assert not bucket.take(0.0)
    assert bucket.wait(0.0) == pytest.approx(10.0)
    assert bucket.wait(4.0) == pytest.approx(6.0)
    assert bucket.take(10.0)
    assert bucket.wait(10.0) == pytest.approx(10.0)
    assert bucket.wait(100.0) == 0.0


def test_a_url_from_a_missing_variable_names_the_key() -> None:
    table = NotifyTable(webhooks=(WebhookTable(name="ops", url_env="HEADEND_WECOM_URL"),))
    with pytest.raises(ConfigError, match=r"notify\.webhooks\[0\]\.url_env.*HEADEND_WECOM_URL"):
        webhooks_of(table, {}, "fleet.toml")
    (hook,) = webhooks_of(table, {"HEADEND_WECOM_URL": "https://qyapi.invalid/k"}, "fleet.toml")
    assert hook.url == "https://qyapi.invalid/k"

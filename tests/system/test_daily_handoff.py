"""Story: billing gets the day's reads and KPIs at the hand-off time, and a correction when the
re-read (补抄) brings the values that were late.

``headend simulate --master --late-day 2026-07-17`` serves a concentrator whose first answer
for the record of July 17th (the freeze at 00:00 on the 18th: billing day 2026-07-18) has no
record; only the re-read a pull interval later gets it. The fleet file's ``[handoff]`` names a
folder, a webhook (a receiver in this test that refuses the first POST, as one that is down)
and the time 00:00, which has passed when the head-end starts at 00:10: the hand-off of the
18th runs once at start. The simulator's ground truth: that daily hand-off holds no read of the
day and a KPI report with every meter missing; the correction(s) that follow hold every
meter's total and tariffs of the freeze, equal to the community model's, flagged
``backfilled``, and a KPI report with every meter backfilled. The webhook gets each file after
its refusal, equal to the folder's. After a restart nothing is handed off or sent again.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from simulators.concentrator.store import tariff_split
from tests.support.ports import free_tcp_port
from tests.support.webhook_receiver import Post, WebhookReceiver
from tests.system.processes import HeadEnd, start_headend, start_master_simulation
from tests.system.truth import GroundTruth

SCENARIO = "smoke"
SEED = 5
START = "2026-07-18T00:10"
DAY = date(2026, 7, 18)
"""Billing's day of the freeze at 00:00 on the 18th, handed off at 00:00 on the 18th."""
LATE = date(2026, 7, 17)
"""The concentrator's record of the 17th (that freeze) is late."""
QUANTITIES = ["energy_active_import_total"] + [f"energy_active_import_t{n}" for n in (1, 2, 3, 4)]
EXPORT_QUANTITIES = ["energy_active_export_total"] + [
    f"energy_active_export_t{n}" for n in (1, 2, 3, 4)
]
"""The terminal pull's F163 (the reverse register, frozen too): handed off with the day."""


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def handoffs(headend: HeadEnd) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = headend.get("/api/exports/handoffs")["handoffs"]
    return answer


def test_the_day_is_handed_off_at_its_time_and_corrected_when_late_values_arrive(
    tmp_path: Path,
) -> None:
    simulation = start_master_simulation(
        SCENARIO, tmp_path, seed=SEED, extra=["--start", START, "--late-day", LATE.isoformat()]
    )
    folder = tmp_path / "billing-inbox"
    receiver = WebhookReceiver(refuse_first=1)
    with simulation.config_path.open("a", encoding="utf-8") as config:
        config.write(
            f'\n[handoff]\nfolder = "{folder}"\nwebhook = "{receiver.url}"\ntime = "00:00"\n'
        )
    data_dir = tmp_path / "data"
    try:
        (terminal,) = simulation.config().terminals.values()
        meters = sorted(m.id for m in terminal.meters)
        expected_rows = len(meters) * (len(QUANTITIES) + len(EXPORT_QUANTITIES))
        truth = GroundTruth(SCENARIO, SEED)
        with receiver.running():
            first = start_headend(simulation, data_dir, port=free_tcp_port())
            try:
                made = first.wait_for(
                    "/api/exports/handoffs",
                    lambda a: sum(h["rows"] for h in a["handoffs"]) == expected_rows,
                    timeout=120,
                )["handoffs"]
                files = [name for h in made for name in h["files"]]
                posts = receiver.wait_for(
                    lambda p: len([x for x in p if x.status == 200]) == len(files), timeout=60
                )
                delivered = first.wait_for(
                    "/api/exports/handoffs",
                    lambda a: all(
                        d["state"] == "delivered" for h in a["handoffs"] for d in h["deliveries"]
                    ),
                )["handoffs"]
                metrics = httpx.get(first.url.rstrip("/") + "/metrics", timeout=30).text
            finally:
                assert first.stop() == 0, first.child.stderr()[-2000:]
            second = start_headend(simulation, data_dir, port=free_tcp_port(), name="run-again")
            try:
                after_restart = second.wait_for(
                    "/api/exports/handoffs", lambda a: a["passes"] >= 1
                )["handoffs"]
                posts_after_restart = list(receiver.posts)
            finally:
                assert second.stop() == 0, second.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]

    daily, *corrections = made
    assert (daily["day"], daily["sequence"], daily["kind"], daily["rows"]) == (
        DAY.isoformat(),
        0,
        "daily",
        0,
    )
    assert corrections, "no correction after the late values"
    assert [c["sequence"] for c in corrections] == list(range(1, len(corrections) + 1))
    assert {c["kind"] for c in corrections} == {"correction"}

    # The daily one: no read of the day yet, every meter missing in its KPI report.
    assert csv_rows((folder / daily["files"][0]).read_text(encoding="utf-8")) == []
    (daily_total,) = [
        r for r in csv_rows((folder / daily["files"][1]).read_text()) if r["dimension"] == "total"
    ]
    assert [daily_total[k] for k in ("due", "first_attempt", "backfilled", "missing")] == [
        str(len(meters)),
        "0",
        "0",
        str(len(meters)),
    ]

    # The corrections, applied in order: every meter's freeze, as the community model froze it.
    read: dict[tuple[str, str], dict[str, str]] = {}
    for correction in corrections:
        for row in csv_rows((folder / correction["files"][0]).read_text(encoding="utf-8")):
            read[(row["meter"], row["quantity"])] = row
    assert set(read) == {(m, q) for m in meters for q in QUANTITIES + EXPORT_QUANTITIES}
    assert {read[(m, q)]["reading"] for m in meters for q in QUANTITIES} == {"daily_freeze"}
    for meter in meters:
        split = tariff_split(truth.frozen(meter, DAY))
        shown = [float(read[(meter, q)]["value"]) for q in QUANTITIES]
        assert shown == [round(v, 4) for v in split], meter
        total = read[(meter, QUANTITIES[0])]
        assert total["quality"] == "backfilled"
        assert total["day"] == DAY.isoformat()
        assert total["timestamp_local"] == "2026-07-18T00:00:00+08:00"
        assert total["timestamp_utc"] == "2026-07-17T16:00:00+00:00"
        assert total["transformer"] == terminal.transformer
    (last_total,) = [
        r
        for r in csv_rows((folder / corrections[-1]["files"][1]).read_text())
        if r["dimension"] == "total"
    ]
    assert [last_total[k] for k in ("due", "backfilled", "missing")] == [
        str(len(meters)),
        str(len(meters)),
        "0",
    ]

    # The webhook: refused once, then every file of every hand-off, byte for byte.
    assert posts[0].status == 503
    accepted: dict[tuple[str, str, str], Post] = {
        (
            p.headers["x-handoff-day"],
            p.headers["x-handoff-sequence"],
            p.headers["x-handoff-file"],
        ): p
        for p in posts
        if p.status == 200
    }
    for handoff in made:
        for name, kind in zip(handoff["files"], ("settlement", "kpi"), strict=True):
            post = accepted[(handoff["day"], str(handoff["sequence"]), kind)]
            assert post.body == (folder / name).read_bytes()
            assert post.headers["x-handoff-kind"] == handoff["kind"]
    assert "headend_handoff_webhook_failures_total 1.0" in metrics  # the refusal, counted
    assert 'headend_handoffs_total{kind="daily"} 1.0' in metrics
    deliveries = {d["destination"]: d for d in delivered[0]["deliveries"]}
    assert deliveries["webhook"]["attempts"] == 2  # the refusal, then the acknowledgement
    assert deliveries["folder"]["state"] == "delivered"

    # The restart: the same hand-offs, nothing sent again.
    assert [(h["day"], h["sequence"]) for h in after_restart] == [
        (h["day"], h["sequence"]) for h in delivered
    ]
    assert posts_after_restart == posts

"""The meters come from the archive: ``headend simulate --write-config --write-archive`` writes
a fleet file with channels, plans and ``[archive]`` but no ``[[meters]]``, and the archive CSV;
``headend archive import`` imports it and ``headend run`` collects every meter of it, compared
with the community model's freezes. Then the admin API: a dry run answers the diff and changes
nothing, a file with a bad row is refused naming the row and column with nothing imported, an
import and an export round-trip, and a meter exchange (换表) is recorded; after a restart the
replaced meter is no longer collected, the new one is, and ``/api/billing/consumption`` bridges
the exchange as old-final - old-start + new-end - new-initial.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.community.model import Community
from simulators.scenario import load_scenario
from tests.support.ports import free_tcp_port
from tests.system.processes import REPO, HeadEnd, Simulation, cli, start_headend, start_simulation
from tests.system.truth import GroundTruth

SEED = 5
SPEED = 120.0
"""Two simulated minutes a second: the evening to midnight in half a minute."""
START = "2026-07-16T22:40"
DAY = date(2026, 7, 16)
NEXT_DAY = DAY + timedelta(days=1)
REPLACED = "S2-H001"
NEW_METER = "S2-H001-N"
NEW_ADDRESS = "000000000199"
EXCHANGED_AT = "2026-07-16T23:40:00+08:00"
TOTAL = "energy_active_import_total"
ENERGY_STEP = 0.005
"""Half the last digit of a DL/T 645 energy register (XXXXXX.XX)."""
FAULT = f"""
[[faults]]
kind = "meter_replaced"
meter = "{REPLACED}"
new_address = "{NEW_ADDRESS}"
start = {EXCHANGED_AT}
"""


@dataclass
class Site:
    simulation: Simulation
    scenario: Path
    archive: Path
    data: Path
    running: HeadEnd

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.running.tokens['admin']}"}
        headers.update(kwargs.pop("headers", {}))
        url = self.running.url.rstrip("/") + path
        return httpx.request(method, url, headers=headers, timeout=30.0, **kwargs)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("archive-fleet")
    scenario = work / "smoke-replaced.toml"
    scenario.write_text((REPO / "simulators" / "scenarios" / "smoke.toml").read_text() + FAULT)
    archive = work / "archive.csv"
    simulation = start_simulation(
        str(scenario),
        work,
        seed=SEED,
        extra=["--start", START, "--speed", f"{SPEED:g}", "--write-archive", str(archive)],
    )
    data = work / "data"
    try:
        done = cli(["archive", "import", str(archive), "--data-dir", str(data)])
        assert done.returncode == 0, done.stderr
        running = start_headend(simulation, data, port=free_tcp_port())
        site = Site(simulation, scenario, archive, data, running)
        try:
            yield site
        finally:
            assert site.running.stop() == 0, site.running.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0, simulation.child.stderr()[-2000:]


def truth_of(site: Site) -> GroundTruth:
    return GroundTruth(str(site.scenario), SEED)


def archive_ids(site: Site) -> list[str]:
    with site.archive.open() as handle:
        return [row["id"] for row in csv.DictReader(handle)]


def frozen_rows(site: Site, day: date, meters: list[str]) -> dict[str, dict[str, Any]]:
    """Each meter's stored total at ``day``'s freeze, once every one of them is collected."""

    def collected(answer: dict[str, Any]) -> bool:
        found = {r["meter"] for r in totals(answer) if r["state"] == "collected"}
        return set(meters) <= found

    def totals(answer: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in answer["daily"] if r["quantity"] == TOTAL and r["day"] == str(day)]

    answer = site.running.wait_for(
        "/api/billing", collected, start=str(day), end=str(day), meter=meters
    )
    return {r["meter"]: r for r in totals(answer)}


def test_headend_collects_every_meter_of_the_imported_archive(site: Site) -> None:
    truth = truth_of(site)
    written = site.simulation.config()
    assert written.meters == {}  # no [[meters]]: the archive has them all
    assert written.archive is not None
    meters = archive_ids(site)
    assert len(meters) == len(truth.scenario.meters)
    listed = {m["id"]: m for m in site.running.get("/api/meters")}
    assert set(listed) == set(meters)
    for spec in truth.scenario.meters:
        assert listed[spec.id]["channel"] == spec.bus
    rows = frozen_rows(site, DAY, meters)
    for meter in meters:
        expected = truth.frozen(meter, DAY)
        assert rows[meter]["value"] == pytest.approx(expected, abs=ENERGY_STEP), meter


def register_before(scenario: Path, meter: str, moment: str) -> float:
    """What ``meter`` showed just before ``moment`` (a crew reads it to 2 decimals)."""
    loaded = load_scenario(str(scenario))
    community = Community.from_scenario(loaded, SEED)
    community.advance_to(datetime.fromisoformat(moment) - timedelta(microseconds=1))
    return round(community.meter_values(meter).energy_active_import_total, 2)


def csv_of(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def test_the_admin_api_diffs_imports_exports_and_records_an_exchange(site: Site) -> None:
    truth = truth_of(site)
    meters = archive_ids(site)
    frozen_rows(site, DAY, [REPLACED])  # read before it is replaced
    exported = site.admin("GET", "/api/archive/export")
    assert exported.status_code == 200, exported.text
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["id"] for r in rows] == sorted(meters)
    edited = [{**row, "account": f"ACC-{row['id']}"} for row in rows]
    upload = {"headers": {"Content-Type": "text/csv"}, "content": csv_of(edited).encode()}

    dry = site.admin("POST", "/api/archive/import", params={"dry_run": "true"}, **upload)
    assert dry.status_code == 200, dry.text
    assert [c["id"] for c in dry.json()["changed"]] == sorted(meters)
    assert {f for c in dry.json()["changed"] for f in c["fields"]} == {"account"}
    assert site.admin("GET", "/api/archive/export").text == exported.text  # nothing changed

    broken = [dict(row) for row in edited]
    broken[2]["kind"] = "shed"  # the spreadsheet's row 4
    refused = site.admin(
        "POST",
        "/api/archive/import",
        headers={"Content-Type": "text/csv"},
        content=csv_of(broken).encode(),
    )
    assert refused.status_code == 422
    assert [d["loc"] for d in refused.json()["detail"]] == [["body", 4, "kind"]]
    assert site.admin("GET", "/api/archive/export").text == exported.text  # nothing imported

    done = site.admin("POST", "/api/archive/import", params={"name": "office.csv"}, **upload)
    assert done.status_code == 200, done.text
    assert done.json()["summary"] == f"0 added, {len(meters)} changed, 0 removed"
    again = site.admin("GET", "/api/archive/export")
    assert list(csv.DictReader(io.StringIO(again.text))) == edited

    final = register_before(site.scenario, REPLACED, EXCHANGED_AT)
    exchange = {
        "old_meter": REPLACED,
        "new_meter": NEW_METER,
        "at": EXCHANGED_AT,
        "old_final": {"total": final},
        "new_initial": {"total": 0.0},
        "new_address": NEW_ADDRESS,
        "reason": "display fault",
    }
    recorded = site.admin("POST", "/api/archive/exchanges", json=exchange)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["new_meter"]["account"] == f"ACC-{REPLACED}"
    unknown = site.admin("POST", "/api/archive/exchanges", json={**exchange, "old_meter": "Z"})
    assert unknown.status_code == 404
    audit = site.running.get("/api/audit", role="admin", meter=REPLACED)
    assert [(e["command"], e["outcome"]) for e in audit][:2] == [
        ("meter exchange", "ok"),
        ("meter exchange", "intent"),
    ]

    # After midnight a restart takes the archive as it is now: the replaced meter's removal
    # day has passed, the new meter is in service at its own address.
    midnight = datetime.combine(NEXT_DAY, datetime.min.time(), truth.scenario.utc_offset)
    site.simulation.wait_until(midnight + timedelta(minutes=1))
    assert site.running.stop() == 0, site.running.child.stderr()[-2000:]
    site.running = start_headend(site.simulation, site.data, port=free_tcp_port(), name="run1")
    listed = {m["id"] for m in site.running.get("/api/meters")}
    assert listed == (set(meters) - {REPLACED}) | {NEW_METER}
    frozen_rows(site, NEXT_DAY, [NEW_METER])
    billed = site.running.get(
        "/api/billing/consumption", meter=NEW_METER, start=str(DAY), end=str(DAY), quantity=TOTAL
    )
    (row,) = billed["consumption"]
    new_end = truth.frozen(REPLACED, NEXT_DAY)  # the new register, from 0 at the exchange
    assert new_end < 5.0
    expected = final - truth.frozen(REPLACED, DAY) + new_end - 0.0
    assert row["quality"] == "actual", row
    assert row["meters"] == [REPLACED, NEW_METER]
    assert row["value"] == pytest.approx(expected, abs=2 * ENERGY_STEP), row

"""Story: in the evening peak the operator sees one transformer overload incident first, not a
flood of meter alarms, takes it in hand, and the control room's robot is told once.

``headend simulate`` runs the evening-overload community (smoke's eight meters on a 10 kVA
transformer, building S2 at the end of a thin feeder) from 17:30 site time at 600x; the fleet
file it wrote gets a ``[notify]`` webhook in the WeCom robot format pointing at a receiver in
this test (loopback, free port), for critical incidents. ``headend run`` collects; the anomaly
rules raise the overload after its hour (six real seconds) and S2's low voltage after a
minute. Then:

- ``GET /api/incidents`` lists the transformer overload first, with every meter of T1 in the
  model (and none other), each with its worst value: a power the model showed for that meter,
  or a voltage below the 198 V limit; S2's low voltage is an incident of its own;
- acknowledging it is refused (403) with the reader token, and works with the operator token
  (audited, in its history);
- the receiver got exactly one notification for the incident, and ``/metrics`` counts it;
- a second ``headend run`` on the same data dir shows the incident acknowledged, its history
  kept and found by a search.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.ports import free_tcp_port
from tests.system.processes import (
    POLL_INTERVAL_S,
    HeadEnd,
    Simulation,
    start_headend,
    start_simulation,
)
from tests.system.truth import GroundTruth, matches_one

SCENARIO = "evening-overload"
SEED = 7
START = "2026-07-15T17:30"
"""Site time: the transformer is above its rating from about 17:45 on."""
SPEED = 600
TRANSFORMER = "T1"
FAR_BUILDING = "S2"
LOW_LIMIT_V = 198.0
POWER_STEP = 0.00005
"""Half the last digit of a DL/T 645 power (XX.XXXX kW)."""
WAIT_S = 90.0


class Robot:
    """A WeCom-style robot on a loopback port: records each POSTed JSON, answers errcode 0."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=test"
        self.received: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                robot.received.append(json.loads(self.rfile.read(length)))
                robot.arrived.set()
                answer = b'{"errcode":0,"errmsg":"ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)

    def about(self, incident_id: str) -> list[dict[str, Any]]:
        return [m for m in self.received if f"id: {incident_id}" in m["markdown"]["content"]]


@contextmanager
def running_robot() -> Iterator[Robot]:
    robot = Robot(free_tcp_port())
    thread = threading.Thread(target=robot.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield robot
    finally:
        robot.server.shutdown()
        robot.server.server_close()
        thread.join()


def notify_robot(config_path: Path, robot: Robot) -> None:
    text = config_path.read_text()
    table = (
        '\n[notify]\nmin_severity = "critical"\n\n[[notify.webhooks]]\nname = "robot"\n'
        f'url = "{robot.url}"\nformat = "wecom"\nper_minute = 20\n'
    )
    config_path.write_text(text + table)


def overload_of(answer: dict[str, Any], meters: set[str]) -> bool:
    """Both incidents are there and the overload lists every meter of its transformer."""
    incidents = answer["incidents"]
    kinds = {i["kind"] for i in incidents}
    overload = [i for i in incidents if i["kind"] == "transformer_overload"]
    return (
        "building_low_voltage" in kinds
        and len(overload) == 1
        and {m["meter"] for m in overload[0]["meters"]} == meters
    )


def ack(headend: HeadEnd, incident: str, role: str, note: str) -> httpx.Response:
    return httpx.post(
        f"{headend.url.rstrip('/')}/api/incidents/{incident}/ack",
        headers={"Authorization": f"Bearer {headend.tokens[role]}"},
        json={"note": note},
        timeout=30.0,
    )


def test_the_overload_is_one_incident_first_acknowledged_and_notified_once(
    tmp_path: Path,
) -> None:
    truth = GroundTruth(SCENARIO, SEED)
    meters_of_t1 = {m.id for m in truth.scenario.meters if m.transformer == TRANSFORMER}
    far_end = {m.id for m in truth.scenario.meters if m.building == FAR_BUILDING}
    assert meters_of_t1 > far_end  # the scenario's shape this story needs
    simulation = start_simulation(
        SCENARIO, tmp_path, seed=SEED, extra=["--start", START, "--speed", f"{SPEED}"]
    )
    try:
        with running_robot() as robot:
            notify_robot(simulation.config_path, robot)
            headend = start_headend(simulation, tmp_path / "data", port=free_tcp_port())
            try:
                answer = headend.wait_for(
                    "/api/incidents",
                    lambda a: overload_of(a, meters_of_t1),
                    timeout=WAIT_S,
                    state="all",
                )
                first = answer["incidents"][0]
                assert (first["kind"], first["subject"], first["severity"]) == (
                    "transformer_overload",
                    TRANSFORMER,
                    "critical",
                )
                check_worst_values(truth, first, power_interval(simulation))
                (far,) = [i for i in answer["incidents"] if i["kind"] == "building_low_voltage"]
                assert far["subject"] == FAR_BUILDING
                assert {m["meter"] for m in far["meters"]} <= far_end
                assert all(m["worst"]["value"] < LOW_LIMIT_V for m in far["meters"])
                alarms = {a["id"] for a in headend.get("/api/alarms")}
                assert set(first["alarm_ids"]) <= alarms  # the alarms stay behind it

                refused = ack(headend, first["id"], "reader", "not mine to take")
                assert refused.status_code == 403, refused.text
                taken = ack(headend, first["id"], "operator", "crew sent to T1")
                assert taken.status_code == 200, taken.text
                assert taken.json()["state"] == "acknowledged"
                assert taken.json()["acknowledged"]["by"] == "operator"
                detail = headend.get(f"/api/incidents/{first['id']}")
                assert detail["history"][0]["event"] == "opened"
                assert {"event": "acknowledged", "by": "operator", "note": "crew sent to T1"} in [
                    {k: h[k] for k in ("event", "by", "note")} for h in detail["history"]
                ]
                audit = headend.get("/api/audit", role="operator", meter=first["id"])
                assert [e["outcome"] for e in audit] == ["ok", "intent"]

                assert robot.arrived.wait(WAIT_S), "the robot was never notified"
                wait_until_counted(headend, len(robot.received))
                assert len(robot.about(first["id"])) == 1
                content = robot.about(first["id"])[0]["markdown"]["content"]
                assert "transformer_overload T1 opened" in content
            finally:
                code = headend.stop()
                assert code == 0, headend.child.stderr()[-2000:]

            again = start_headend(simulation, tmp_path / "data", port=free_tcp_port(), name="run1")
            try:  # the history is on disk: the acknowledgement survives the restart
                kept = again.get(f"/api/incidents/{first['id']}")
                assert kept["acknowledged"]["by"] == "operator"
                assert kept["state"] == "acknowledged"
                assert kept["history"][: len(detail["history"])] == detail["history"]
                found = again.get("/api/incidents", q="t1", kind="transformer_overload")
                assert [i["id"] for i in found["incidents"]] == [first["id"]]
            finally:
                assert again.stop() == 0, again.child.stderr()[-2000:]
    finally:
        assert simulation.child.stop() == 0


def wait_until_counted(headend: HeadEnd, received: int) -> None:
    """``/metrics`` counts a notification once the robot's answer is back, just after the
    robot saw it: asked again every ``POLL_INTERVAL_S`` until it agrees."""
    deadline = time.monotonic() + WAIT_S
    while (counted := sent_count(headend)) != received:
        assert time.monotonic() < deadline, f"sent {counted}, the robot received {received}"
        time.sleep(POLL_INTERVAL_S)


def sent_count(headend: HeadEnd) -> float:
    text = httpx.get(f"{headend.url.rstrip('/')}/metrics", timeout=30.0).text
    for family in text_string_to_metric_families(text):
        if family.name == "headend_notifications":
            for sample in family.samples:
                if sample.labels == {"webhook": "robot", "outcome": "sent"}:
                    return sample.value
    raise AssertionError("no headend_notifications_total{webhook=robot,outcome=sent}")


def power_interval(simulation: Simulation) -> timedelta:
    """How long after its slot (the reading's timestamp) a power read may have been taken."""
    intervals = [
        r.interval
        for plan in simulation.config().plans.values()
        for r in plan.reads
        if "power_active_total" in r.quantities
    ]
    return timedelta(seconds=max(intervals))


def check_worst_values(truth: GroundTruth, incident: dict[str, Any], reach: timedelta) -> None:
    """Each meter's worst value is one the model showed it: its power between the reading's
    slot and the end of its interval (when the read was taken), or (a meter whose own low
    voltage joined the overload) a voltage below the limit."""
    for row in incident["meters"]:
        worst = row["worst"]
        if worst["quantity"] == "voltage":
            assert worst["value"] < LOW_LIMIT_V, row
            continue
        assert worst["quantity"] == "power_active_total", row
        at = datetime.fromisoformat(worst["at"])
        shown = truth.values_between(row["meter"], "power_active_total", at, at + reach)
        assert matches_one(worst["value"], shown, POWER_STEP), (row, shown)

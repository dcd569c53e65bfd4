"""The incidents routes over a real engine: the list and its filters, one with its history,
acknowledgement (404 unknown, 409 cleared), and the live stream's ``incidents`` message."""

from __future__ import annotations

import httpx

from headend.api.facade import HeadendFacade
from headend.api.stream import live_events
from storage.records import Severity
from tests.headend.api.fleet import OPERATOR, READER, LiveFleet


def offline(fleet: LiveFleet, meter: str, *, active: bool = True) -> None:
    """The engine's own alarm of a meter going offline (or online again), then a pass."""
    fleet.engine.alarms.meter_event(
        meter,
        "meter_offline",
        active=active,
        at=fleet.engine.clock.now(),
        detail="no answer",
        severity=Severity.WARNING,
        tags={},
    )
    fleet.engine.incidents.run_pass()


async def test_both_meters_offline_are_one_channel_incident(
    fleet: LiveFleet, client: httpx.AsyncClient
) -> None:
    offline(fleet, "m1")
    offline(fleet, "m2")  # the second of bus-1's two: the channel's, not the meter's

    listed = (await client.get("/api/incidents", headers=READER)).json()
    kinds = [(i["kind"], i["subject"], i["state"]) for i in listed["incidents"]]
    assert ("channel_down", "bus-1", "open") in kinds
    assert ("meter", "m1", "open") in kinds  # m1 alone was its own, filed before m2 went
    assert listed["total"] == 2
    channel = next(i for i in listed["incidents"] if i["kind"] == "channel_down")
    assert [m["meter"] for m in channel["meters"]] == ["m2"]
    assert channel["transformer"] == "T1"
    found = await client.get("/api/incidents", headers=READER, params={"q": "BUS-1"})
    assert [i["id"] for i in found.json()["incidents"]] == [channel["id"]]
    only = await client.get("/api/incidents", headers=READER, params={"kind": "meter"})
    assert [i["subject"] for i in only.json()["incidents"]] == ["m1"]
    naive = await client.get("/api/incidents", headers=READER, params={"since": "2026-01-01T00:00"})
    assert naive.status_code == 422
    assert naive.json()["detail"][0]["loc"] == ["query", "since"]


async def test_acknowledge_then_clear_then_409(fleet: LiveFleet, client: httpx.AsyncClient) -> None:
    offline(fleet, "m1")
    (incident,) = (await client.get("/api/incidents", headers=READER)).json()["incidents"]
    url = f"/api/incidents/{incident['id']}/ack"

    assert (await client.post(url, headers=READER, json={"note": "x"})).status_code == 403
    acked = await client.post(url, headers=OPERATOR, json={"note": "looking"})
    assert acked.status_code == 200
    assert acked.json()["acknowledged"]["by"] == "control-room"
    assert acked.json()["acknowledged"]["note"] == "looking"

    offline(fleet, "m1", active=False)
    detail = (await client.get(f"/api/incidents/{incident['id']}", headers=READER)).json()
    assert detail["state"] == "cleared"
    assert [h["event"] for h in detail["history"]] == ["opened", "acknowledged", "cleared"]
    assert (await client.post(url, headers=OPERATOR, json={"note": "late"})).status_code == 409
    missing = await client.post("/api/incidents/nope/ack", headers=OPERATOR, json={"note": ""})
    assert missing.status_code == 404
    assert (await client.get("/api/incidents/nope", headers=READER)).status_code == 404
    cleared = await client.get("/api/incidents", headers=READER, params={"state": "open"})
    assert cleared.json() == {"total": 0, "incidents": []}


async def test_the_live_stream_sends_the_open_incidents(fleet: LiveFleet) -> None:
    offline(fleet, "m1")
    events = live_events(HeadendFacade(fleet.engine))
    try:
        chunks = [await anext(events) for _ in range(3)]  # retry, alarms, incidents
    finally:
        await events.aclose()
    assert chunks[2].startswith(b"event: incidents\ndata: [")
    assert b'"subject":"m1"' in chunks[2]

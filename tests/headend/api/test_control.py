"""Operator actions against simulated meters: on-demand read, relay, clock, time sync, alarms,
fleet changes; failures answered with the right status and the meter's reason."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from storage.records import Severity
from tests.headend.api.fleet import ADMIN, OPERATOR, READER, LiveFleet, raise_low_voltage


async def test_on_demand_read_returns_what_the_meter_says_now(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    fleet.values["m2"]["voltage_b"] = 203.4
    response = await client.post(
        "/api/meters/m2/read", headers=OPERATOR, json={"quantities": ["voltage_b"]}
    )
    assert response.status_code == 200
    [reading] = response.json()
    assert (reading["quantity"], reading["value"]) == ("voltage_b", pytest.approx(203.4))


async def test_on_demand_read_of_an_unknown_quantity_is_422_naming_it(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/meters/m1/read", headers=OPERATOR, json={"quantities": ["voltage_q"]}
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "quantities"]
    assert "voltage_q" in error["msg"]


async def test_relay_trip_is_done_audited_and_attributed_to_the_token(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    response = await client.post("/api/meters/m1/relay", headers=OPERATOR, json={"action": "trip"})
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["verified"], body["user"]) == ("open", True, "control-room")
    audit = (await client.get("/api/audit", headers=OPERATOR)).json()
    assert audit[0]["user"] == "control-room"
    assert (audit[0]["meter"], audit[0]["command"], audit[0]["outcome"]) == (
        "m1",
        "relay trip",
        "ok",
    )
    closed = await client.post(
        "/api/meters/m1/relay", headers=OPERATOR, json={"action": "close_direct"}
    )
    assert closed.json()["state"] == "closed"


async def test_relay_action_outside_the_three_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/meters/m1/relay", headers=OPERATOR, json={"action": "alarm"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "action"]


async def test_audit_is_not_for_readers(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/audit", headers=READER)).status_code == 403


async def test_clock_check_and_time_sync(client: httpx.AsyncClient) -> None:
    clock = await client.post("/api/meters/m1/clock", headers=OPERATOR)
    assert clock.status_code == 200
    assert abs(clock.json()["drift_seconds"]) < 30  # simulated meters keep head-end time
    sync = await client.post("/api/time-sync", headers=OPERATOR)
    assert sync.json() == {"channels": 1}


async def test_time_sync_is_audited_with_the_token_name(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/time-sync", headers=OPERATOR)).status_code == 200
    audit = (await client.get("/api/audit", headers=OPERATOR)).json()
    assert [(e["user"], e["meter"], e["command"], e["outcome"]) for e in audit[:2]] == [
        ("control-room", "*", "broadcast time sync", "ok"),
        ("control-room", "*", "broadcast time sync", "intent"),
    ]
    assert audit[0]["ref"] == audit[1]["id"]


async def test_audit_is_filtered_by_meter_and_paged(client: httpx.AsyncClient) -> None:
    for meter in ("m1", "m2", "m1"):
        trip = await client.post(
            f"/api/meters/{meter}/relay", headers=OPERATOR, json={"action": "trip"}
        )
        assert trip.status_code == 200
    m1 = (await client.get("/api/audit", headers=OPERATOR, params={"meter": "m1"})).json()
    assert [(e["meter"], e["outcome"]) for e in m1] == [("m1", "ok"), ("m1", "intent")] * 2
    page = await client.get(
        "/api/audit", headers=OPERATOR, params={"meter": "m1", "limit": 2, "offset": 1}
    )
    assert [e["id"] for e in page.json()] == [e["id"] for e in m1[1:3]]
    too_big = await client.get("/api/audit", headers=OPERATOR, params={"limit": 100_000})
    assert too_big.status_code == 422


async def test_a_meter_that_does_not_answer_is_504_with_the_reason(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    ghost = {
        "id": "ghost",
        "channel": "bus-1",
        "protocol": "dlt645-2007",
        "plan": "home",
        "address": "000000000009",
        "transformer": "T1",
    }
    added = await client.post("/api/meters", headers=ADMIN, json=ghost)
    assert added.status_code == 201
    assert "ghost" in fleet.engine.registry
    response = await client.post(
        "/api/meters/ghost/read", headers=OPERATOR, json={"quantities": ["voltage_a"]}
    )
    assert response.status_code == 504
    assert response.json()["reason"] == "timeout"


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"channel": "bus-9"}, "channel", "unknown channel"),
        ({"address": "000000000001"}, "address", "already used by meter m1"),
        ({"address": "12ab"}, "address", "expected the 12-digit meter address"),
        ({"plan": "nope"}, "plan", "unknown plan"),
        ({"phase": "D"}, "phase", "'A'"),
        ({"address": None}, "address", "needs address"),
        ({"protocol": "modbus", "address": None, "unit_id": 3}, "register_map", "needs"),
        ({"replaces": "nope"}, "replaces", "unknown meter 'nope'"),
        ({"kind": "transformer_lv"}, "kind", "needs its transformer"),
        ({"building": "B1\\"}, "building", "backslash"),
        ({"building": "Block 1\nB"}, "building", "newlines are not allowed"),
        ({"household": "flat 1\\"}, "household", "backslash at the end"),
        ({"ct_raito": 40}, "ct_raito", "Extra inputs are not permitted"),
        ({"unit_id": "3", "protocol": "modbus"}, "unit_id", "valid integer"),
    ],
)
async def test_bad_meter_additions_are_422_naming_the_field(
    client: httpx.AsyncClient,
    fleet: LiveFleet,
    change: dict[str, object],
    field: str,
    text: str,
) -> None:
    meter: dict[str, object] = {
        "id": "new",
        "channel": "bus-1",
        "plan": "home",
        "address": "000000000005",
        **change,
    }
    response = await client.post("/api/meters", headers=ADMIN, json=meter)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]
    assert text in error["msg"]
    assert "new" not in fleet.engine.registry


async def test_acknowledging_an_alarm_records_who(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    fleet.engine.alarms.meter_event(
        "m2",
        "meter_offline",
        active=True,
        at=fleet.engine.clock.now(),
        detail="3 timeouts",
        severity=Severity.WARNING,
        tags={},
    )
    [alarm] = (await client.get("/api/alarms", headers=READER)).json()
    assert alarm["acknowledged_by"] is None
    assert (await client.post(f"/api/alarms/{alarm['id']}/ack", headers=READER)).status_code == 403
    acked = await client.post(f"/api/alarms/{alarm['id']}/ack", headers=OPERATOR)
    assert acked.json()["acknowledged_by"] == "control-room"
    [still_open] = (await client.get("/api/alarms", headers=READER)).json()
    assert still_open["acknowledged_by"] == "control-room"
    assert still_open["open"] is True


async def test_acknowledging_an_unknown_alarm_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/alarms/nope/ack", headers=OPERATOR)
    assert response.status_code == 404


async def test_a_refused_relay_order_is_502_with_the_reason_and_audited(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    m1 = (await client.get("/api/meters/m1", headers=READER)).json()
    wrong_password = {
        key: m1[key] for key in ("id", "channel", "protocol", "address", "transformer")
    }
    wrong_password |= {"plan": "home", "password": "02123456", "control": "plaintext"}
    assert (await client.post("/api/meters", headers=ADMIN, json=wrong_password)).status_code == 201
    response = await client.post("/api/meters/m1/relay", headers=OPERATOR, json={"action": "trip"})
    assert response.status_code == 502
    assert response.json()["reason"] == "error_response"
    relay_entries = [e for e in fleet.engine.audit.recent() if e.command == "relay trip"]
    assert [(e.user, e.outcome) for e in relay_entries] == [
        ("control-room", "refused"),
        ("control-room", "intent"),
    ]
    assert relay_entries[0].ref == relay_entries[1].id


async def test_an_anomaly_alarm_is_acknowledged_by_its_url_encoded_id(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    await raise_low_voltage(fleet, "m1")
    [listed] = (await client.get("/api/alarms", headers=READER)).json()
    assert "/" in listed["id"], "anomaly ids carry kind/subject kind/subject/start"
    path = f"/api/alarms/{quote(listed['id'], safe='')}/ack"  # encodeURIComponent, as the page
    acked = await client.post(path, headers=OPERATOR)
    assert acked.status_code == 200, acked.text
    assert (acked.json()["id"], acked.json()["acknowledged_by"]) == (listed["id"], "control-room")
    [still_open] = (await client.get("/api/alarms", headers=READER)).json()
    assert still_open["acknowledged_by"] == "control-room"
    raw = await client.post(f"/api/alarms/{listed['id']}/ack", headers=OPERATOR)
    assert raw.status_code == 200, "the id unencoded works too"


async def test_admin_orders_need_the_admin_role(client: httpx.AsyncClient) -> None:
    body = {"order": "demand_clear", "confirm": "m1"}
    response = await client.post("/api/meters/m1/admin", headers=OPERATOR, json=body)
    assert response.status_code == 403


async def test_an_unconfirmed_admin_order_is_422_at_confirm_and_not_sent(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    body = {"order": "meter_clear", "confirm": "m2"}
    response = await client.post("/api/meters/m1/admin", headers=ADMIN, json=body)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "confirm"]
    assert "confirm = 'm1'" in problem["msg"]
    assert fleet.sim_meters["m1"].energy_cleared_at is None
    assert [e for e in fleet.engine.audit.recent("m1") if e.command == "meter clear"] == []


async def test_change_password_without_the_new_one_is_422(client: httpx.AsyncClient) -> None:
    body = {"order": "change_password", "confirm": "m1"}
    response = await client.post("/api/meters/m1/admin", headers=ADMIN, json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "new_password"]


async def test_a_confirmed_demand_clear_reaches_the_meter_and_is_audited(
    client: httpx.AsyncClient, fleet: LiveFleet
) -> None:
    body = {"order": "demand_clear", "confirm": "m1", "reason": "tariff change"}
    response = await client.post("/api/meters/m1/admin", headers=ADMIN, json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "meter": "m1",
        "order": "demand_clear",
        "result": "demand clear done",
        "user": "fleet-admin",
    }
    assert fleet.sim_meters["m1"].demand_cleared
    outcome, intent = fleet.engine.audit.recent("m1")[:2]
    assert (intent.command, intent.outcome, outcome.outcome) == ("demand clear", "intent", "ok")
    assert intent.data["reason"] == "tariff change"

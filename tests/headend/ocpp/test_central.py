"""The central system over real WebSockets on loopback, with simulated charge points
(tests/headend/ocpp/rig.py: a 100 kW limit, 80 kW of base load, 7.2 A each for four)."""

from __future__ import annotations

import json

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from headend.commands.audit import INTENT
from tests.headend.ocpp.rig import MODES, Rig


async def test_headroom_shared_and_every_order_audited_with_its_answer(
    curb_rig: Rig,
) -> None:
    await curb_rig.central.update()
    assert curb_rig.central.sent == {name: 7.2 for name in MODES}
    assert curb_rig.central.answers == {
        "CP1": "Accepted",
        "CP2": "Accepted",
        "CP3": "Rejected",
        "CP4": "NotSupported",
    }
    assert curb_rig.chargers["CP1"].truth.limit == 7.2
    assert curb_rig.central.orders["Rejected"] >= 1  # /metrics: headend_ocpp_orders_total
    assert curb_rig.central.orders["NotSupported"] >= 1
    assert curb_rig.chargers["CP3"].truth.limit is None  # it said no, and kept its 32 A
    assert curb_rig.chargers["CP3"].truth.profiles[-1] == 7.2
    # the audit file: each order's intent is on disk before its outcome, which names the answer
    lines = [json.loads(line) for line in curb_rig.audit.path.read_text().splitlines()]  # type: ignore[union-attr]
    intents = {
        entry["id"]: index for index, entry in enumerate(lines) if entry["outcome"] == INTENT
    }
    outcomes = [entry for entry in lines if entry["outcome"] != INTENT]
    assert outcomes
    assert all(intents[entry["ref"]] < lines.index(entry) for entry in outcomes)
    last = {entry["meter"]: entry for entry in outcomes}
    assert {name: (e["outcome"], e["data"]["status"]) for name, e in last.items()} == {
        "CP1": ("ok", "Accepted"),
        "CP2": ("ok", "Accepted"),
        "CP3": ("refused", "Rejected"),
        "CP4": ("refused", "NotSupported"),
    }
    assert last["CP1"]["data"]["limit_a"] == 7.2
    assert last["CP1"]["command"] == "set_charging_profile"


async def test_meter_values_are_stored_as_pile_readings_in_kw_and_kwh(curb_rig: Rig) -> None:
    latest = {(r.meter, r.quantity): r for r in curb_rig.stored}
    power = latest[("CP1-pile", "power_active_total")]
    # the charger's truth, sent as W, stored as kW (the limit it obeyed when it sampled
    # depends on the order the four arrived in)
    assert power.unit == "kW"
    assert power.value == pytest.approx(curb_rig.chargers["CP1"].truth.draw_kw)
    # the same sample's current, sent in A: kW x 1000 / (3 x 230 V)
    current = latest[("CP1-pile", "current_a")]
    assert current.value == pytest.approx((power.value or 0.0) * 1000 / 690, abs=0.01)
    energy = latest[("CP1-pile", "energy_active_import_total")]
    assert (energy.value, energy.unit) == (0.0, "kWh")
    assert power.tags["transformer"] == "T1"


async def test_a_repeated_round_sends_nothing_new(curb_rig: Rig) -> None:
    await curb_rig.central.update()
    before = len(curb_rig.audit.recent())
    await curb_rig.central.update()
    assert len(curb_rig.audit.recent()) == before


async def test_a_falling_load_releases_the_curb_with_clear_charging_profile(
    curb_rig: Rig,
) -> None:
    await curb_rig.central.update()  # 7.2 A each
    curb_rig.base_kw[0] = 0.0  # 100 kW / 0.69 / 4 = 36 A each: more than 32, ramped 8 A a round
    for _ in range(4):  # 7.2 -> 15.2 -> 23.2 -> 31.2 -> released
        await curb_rig.central.update()
    assert curb_rig.central.sent["CP1"] is None
    assert curb_rig.chargers["CP1"].truth.limit is None
    cleared = [
        e
        for e in curb_rig.audit.recent("CP1")
        if e.command == "clear_charging_profile" and e.outcome != INTENT
    ]
    assert [(e.outcome, e.detail) for e in cleared] == [("ok", "Accepted")]
    raised = [
        e.data["limit_a"]
        for e in reversed(curb_rig.audit.recent("CP1"))
        if e.command == "set_charging_profile" and e.outcome == "ok"
    ]
    assert raised[-3:] == [15.2, 23.2, 31.2]


async def test_unknown_chargers_and_wrong_passwords_are_refused_and_counted(curb_rig: Rig) -> None:
    with pytest.raises(InvalidStatus) as unknown:
        async with websockets.connect(f"{curb_rig.url}/CP99", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
            pass
    assert unknown.value.response.status_code == 404
    with pytest.raises(InvalidStatus) as wrong:
        async with websockets.connect(
            f"{curb_rig.url}/CP2",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers={"Authorization": "Basic Q1AyOndyb25n"},  # CP2:wrong
        ):
            pass
    assert wrong.value.response.status_code == 401
    assert curb_rig.central.refused["unknown_charger"] == 1
    assert curb_rig.central.refused["bad_auth"] == 1
    assert sorted(curb_rig.central.sessions) == sorted(MODES)  # CP2's real session is untouched


async def test_a_charger_without_the_ocpp16_subprotocol_is_refused_and_counted(
    curb_rig: Rig,
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(f"{curb_rig.url}/CP5"):
            pass
    assert refused.value.response.status_code == 400
    assert curb_rig.central.refused["bad_subprotocol"] == 1


async def test_malformed_frames_answered_or_dropped_and_the_session_goes_on(
    curb_rig: Rig,
) -> None:
    async with websockets.connect(f"{curb_rig.url}/CP5", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await ws.send("this is not OCPP")
        await ws.send(json.dumps([2, "m1", "BootNotification", {"chargePointModel": 5}]))
        error = json.loads(await ws.recv())
        assert error[:2] == [4, "m1"]  # a CallError for the call the schema refuses
        await ws.send(json.dumps([2, "m2", "Heartbeat", {}]))
        answer = json.loads(await ws.recv())
        assert answer[:2] == [3, "m2"]
        assert "currentTime" in answer[2]
    assert curb_rig.central.refused["bad_frame"] == 2

"""Story: ``headend simulate --write-config X`` then ``headend run --config X`` just works: the
config carries the API tokens (by variable name; the secrets are printed once, never written),
the shared clock, and the terminal's MQTT broker."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.system.conftest import HeadEndFactory
from tests.system.processes import Simulation
from tests.system.truth import GroundTruth

POWER_STEP_KW = 0.0005
"""The terminal sends TotW in whole watts: half a watt, in kW."""


def test_the_written_config_names_tokens_but_holds_no_secret(simulation: Simulation) -> None:
    text = simulation.config_path.read_text(encoding="utf-8")
    assert set(simulation.tokens) == {"reader", "operator", "admin"}
    for secret in simulation.tokens.values():
        assert secret not in text
    config = simulation.config()
    assert config.api is not None
    assert {entry.role for entry in config.api.tokens} == {"reader", "operator", "admin"}


def test_the_terminal_telemetry_reaches_the_headend_over_mqtt(
    simulation: Simulation, headend: HeadEndFactory, truth: GroundTruth
) -> None:
    """The terminal's power arrives in W (TotW) and is stored as the model's kW value."""
    config = simulation.config()
    assert config.mqtt is not None
    assert config.mqtt.ingest_topics
    running = headend()
    with running.stream() as events:
        reading = events.next_reading(
            lambda r: r["meter"] in config.transformers and r["quantity"] == "power_active_total"
        )
    assert (reading["quality"], reading["unit"]) == ("actual", "kW")
    stamped = datetime.fromisoformat(reading["timestamp"])
    community = truth.community_at(stamped - timedelta(minutes=1))
    shown = []
    for moment in (stamped - timedelta(minutes=1), stamped):  # the sample's minute, or the last
        community.advance_to(moment)
        shown.append(community.transformer_values(reading["meter"]).power_active_total)
    assert any(abs(reading["value"] - kw) <= POWER_STEP_KW + 1e-9 for kw in shown), (reading, shown)

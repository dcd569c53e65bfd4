"""Story: ``headend simulate --write-config X`` then ``headend run --config X`` just works: the
config carries the API tokens (by variable name; the secrets are printed once, never written),
the shared clock, and the terminal's MQTT broker."""

from __future__ import annotations

from tests.system.conftest import HeadEndFactory
from tests.system.processes import Simulation


def test_the_written_config_names_tokens_but_holds_no_secret(simulation: Simulation) -> None:
    text = simulation.config_path.read_text(encoding="utf-8")
    assert set(simulation.tokens) == {"reader", "operator", "admin"}
    for secret in simulation.tokens.values():
        assert secret not in text
    config = simulation.config()
    assert config.api is not None
    assert {entry["role"] for entry in config.api["tokens"]} == {"reader", "operator", "admin"}


def test_the_terminal_telemetry_reaches_the_headend_over_mqtt(
    simulation: Simulation, headend: HeadEndFactory
) -> None:
    config = simulation.config()
    assert config.mqtt is not None
    assert config.mqtt.ingest_topics
    running = headend()
    with running.stream() as events:
        reading = events.next_reading(lambda r: r["meter"] in config.transformers)
    assert reading["quality"] == "actual"

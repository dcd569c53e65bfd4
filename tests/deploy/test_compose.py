"""docker-compose.yml validated by the compose binary itself, then its structure checked."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from headend.api.auth import Role
from headend.cli.healthcheck import DEFAULT_TOKEN_ENV
from headend.config.fleet import load_fleet_config
from headend.config.storage import InfluxV2Storage
from headend.service import api_settings
from tests.deploy.compose_cli import (
    canonical_model,
    filled_env,
    parse_env_file,
    run_config,
    write_env_file,
)
from tests.deploy.paths import (
    COMPOSE_FILE,
    DEPLOYMENT_DOC,
    ENV_EXAMPLE,
    FLEET_SAMPLE,
    MOSQUITTO_CONF,
    REPO,
)

SERVICES = ("mosquitto", "influxdb", "grafana", "headend")
SECRETS = (
    "INFLUX_ADMIN_PASSWORD",
    "INFLUX_TOKEN",
    "GRAFANA_ADMIN_PASSWORD",
    "MQTT_TERMINAL_PASSWORD",
    "HEADEND_TOKEN_ADMIN",
    "HEADEND_TOKEN_OPERATOR",
    "HEADEND_TOKEN_READER",
)
_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


def _service(model: dict[str, Any], name: str) -> dict[str, Any]:
    services: dict[str, Any] = model["services"]
    service: dict[str, Any] = services[name]
    return service


def _mount(service: dict[str, Any], target: str) -> dict[str, Any]:
    for volume in service.get("volumes", []):
        if volume["target"] == target:
            mount: dict[str, Any] = volume
            return mount
    raise AssertionError(f"no mount at {target}: {service.get('volumes')}")


def test_compose_file_validates(compose_model: dict[str, Any]) -> None:
    assert set(compose_model["services"]) == set(SERVICES)


def test_example_env_without_secrets_is_refused(compose_bin: Path, tmp_path: Path) -> None:
    """Every secret is required: an unfilled .env must stop compose, naming the variable."""
    example = parse_env_file(ENV_EXAMPLE)
    assert all(example[name] == "" for name in SECRETS)
    for secret in SECRETS:
        values = filled_env()
        values[secret] = ""
        env_file = write_env_file(tmp_path / f"{secret}.env", values)
        result = run_config(compose_bin, env_file, "--quiet")
        assert result.returncode != 0, f"compose accepted an empty {secret}"
        assert secret in result.stderr


def test_every_variable_is_documented_in_env_example() -> None:
    used = set(_VARIABLE.findall(COMPOSE_FILE.read_text(encoding="utf-8")))
    assert used, "docker-compose.yml uses no variables: the pattern is wrong"
    assert used <= set(parse_env_file(ENV_EXAMPLE)), sorted(used - set(parse_env_file(ENV_EXAMPLE)))


def test_images(compose_model: dict[str, Any]) -> None:
    assert _service(compose_model, "mosquitto")["image"] == "eclipse-mosquitto:2"
    assert _service(compose_model, "influxdb")["image"] == "influxdb:2.7"
    assert _service(compose_model, "grafana")["image"].startswith("grafana/grafana:")
    build = _service(compose_model, "headend")["build"]
    assert Path(build["context"]) == REPO
    assert (REPO / build["dockerfile"]).is_file()


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_a_healthcheck_and_restarts(
    compose_model: dict[str, Any], name: str
) -> None:
    service = _service(compose_model, name)
    test = service["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL")
    assert len(test) > 1
    assert service["restart"] == "unless-stopped"


def test_headend_waits_for_healthy_broker_and_database(compose_model: dict[str, Any]) -> None:
    depends = _service(compose_model, "headend")["depends_on"]
    assert {name: dep["condition"] for name, dep in depends.items()} == {
        "mosquitto": "service_healthy",
        "influxdb": "service_healthy",
    }
    grafana = _service(compose_model, "grafana")["depends_on"]
    assert grafana["influxdb"]["condition"] == "service_healthy"


def test_headend_mounts_config_read_only_and_keeps_outbox(compose_model: dict[str, Any]) -> None:
    headend = _service(compose_model, "headend")
    config = _mount(headend, "/etc/headend/fleet.toml")
    assert config["type"] == "bind"
    assert config["read_only"] is True
    assert Path(config["source"]) == FLEET_SAMPLE
    assert _mount(headend, "/var/lib/headend")["type"] == "volume"


def test_data_lives_in_named_volumes(compose_model: dict[str, Any]) -> None:
    expected = {
        "mosquitto": "/mosquitto/data",
        "influxdb": "/var/lib/influxdb2",
        "grafana": "/var/lib/grafana",
        "headend": "/var/lib/headend",
    }
    declared = set(compose_model["volumes"])
    for name, target in expected.items():
        mount = _mount(_service(compose_model, name), target)
        assert mount["type"] == "volume", f"{name}: {target} is not a named volume"
        assert mount["source"] in declared


def test_bind_mounts_exist_in_the_repository(compose_model: dict[str, Any]) -> None:
    """Compose creates a missing bind source as an empty directory: catch typos here."""
    binds = [
        volume
        for service in compose_model["services"].values()
        for volume in service.get("volumes", [])
        if volume["type"] == "bind"
    ]
    assert binds
    for bind in binds:
        source = Path(bind["source"])
        assert source.exists(), f"bind source {source} does not exist"
        assert source.is_relative_to(REPO)
        assert bind["read_only"] is True, f"{source} is mounted writable"


def test_influxdb_is_initialised_from_env(compose_model: dict[str, Any]) -> None:
    env = _service(compose_model, "influxdb")["environment"]
    filled = filled_env()
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == filled["INFLUX_TOKEN"]
    assert env["DOCKER_INFLUXDB_INIT_PASSWORD"] == filled["INFLUX_ADMIN_PASSWORD"]
    assert env["DOCKER_INFLUXDB_INIT_ORG"] == filled["INFLUX_ORG"]
    assert env["DOCKER_INFLUXDB_INIT_BUCKET"] == filled["INFLUX_BUCKET"]
    for required in ("USERNAME", "RETENTION"):
        assert env[f"DOCKER_INFLUXDB_INIT_{required}"]


def test_defaults_match_when_env_leaves_settings_out(compose_bin: Path, tmp_path: Path) -> None:
    """With only the secrets set, the defaults still agree with env.example."""
    secrets_only = {name: f"test-{name.lower()}" for name in SECRETS}
    env_file = write_env_file(tmp_path / "secrets.env", secrets_only)
    env = _service(canonical_model(compose_bin, env_file), "influxdb")["environment"]
    example = parse_env_file(ENV_EXAMPLE)
    assert env["DOCKER_INFLUXDB_INIT_ORG"] == example["INFLUX_ORG"]
    assert env["DOCKER_INFLUXDB_INIT_BUCKET"] == example["INFLUX_BUCKET"]


def test_sample_fleet_points_at_the_compose_services(compose_model: dict[str, Any]) -> None:
    fleet = load_fleet_config(FLEET_SAMPLE)
    influx_env = _service(compose_model, "influxdb")["environment"]
    headend_env = _service(compose_model, "headend")["environment"]
    assert isinstance(fleet.storage, InfluxV2Storage)
    assert fleet.storage.url == "http://influxdb:8086"
    assert fleet.storage.org == influx_env["DOCKER_INFLUXDB_INIT_ORG"]
    assert fleet.storage.bucket == influx_env["DOCKER_INFLUXDB_INIT_BUCKET"]
    token_env = fleet.storage.token_env
    assert headend_env[token_env] == filled_env()["HEADEND_INFLUX_TOKEN"]
    assert fleet.mqtt is not None
    assert fleet.mqtt.host in compose_model["services"]
    assert f"listener {fleet.mqtt.port}\nallow_anonymous true" in MOSQUITTO_CONF.read_text()


def test_only_the_authenticated_mqtt_listener_is_published(compose_model: dict[str, Any]) -> None:
    conf = MOSQUITTO_CONF.read_text(encoding="utf-8")
    listeners = re.findall(r"^listener (\d+)\n(?:.*\n)*?allow_anonymous (\w+)", conf, re.M)
    anonymous = {int(port) for port, allowed in listeners if allowed == "true"}
    assert listeners, "no listener found in mosquitto.conf"
    assert anonymous, "expected an internal anonymous listener"
    published = {int(port["target"]) for port in _service(compose_model, "mosquitto")["ports"]}
    assert published
    assert not published & anonymous, "an anonymous MQTT listener is published"
    assert "password_file" in conf


def test_mqtt_password_is_not_baked_into_the_command(compose_model: dict[str, Any]) -> None:
    """The container shell reads the password from its environment at start."""
    mosquitto = _service(compose_model, "mosquitto")
    script = " ".join(mosquitto["command"])
    secret = mosquitto["environment"]["MQTT_TERMINAL_PASSWORD"]
    assert secret == filled_env()["MQTT_TERMINAL_PASSWORD"]
    assert secret not in script
    assert '"$$MQTT_TERMINAL_PASSWORD"' in script


def test_grafana_mounts_provisioning(compose_model: dict[str, Any]) -> None:
    grafana = _service(compose_model, "grafana")
    provisioning = _mount(grafana, "/etc/grafana/provisioning")
    assert Path(provisioning["source"]) == REPO / "deploy" / "grafana" / "provisioning"
    assert provisioning["read_only"] is True
    assert _mount(grafana, "/etc/grafana/dashboards")["read_only"] is True


def test_headend_influx_token_falls_back_to_the_admin_token(
    compose_bin: Path, tmp_path: Path
) -> None:
    values = filled_env()
    values["HEADEND_INFLUX_TOKEN"] = ""
    model = canonical_model(compose_bin, write_env_file(tmp_path / "no-own.env", values))
    storage = load_fleet_config(FLEET_SAMPLE).storage
    assert isinstance(storage, InfluxV2Storage)
    token_env = storage.token_env
    assert _service(model, "headend")["environment"][token_env] == values["INFLUX_TOKEN"]


def test_sample_api_is_reachable_through_the_published_port(compose_model: dict[str, Any]) -> None:
    """Inside its container the head-end must listen on every interface, with the tokens that
    compose passes in; the published port must lead to the port it listens on."""
    headend = _service(compose_model, "headend")
    settings = api_settings(load_fleet_config(FLEET_SAMPLE), headend["environment"])
    assert settings.host == "0.0.0.0"
    assert [int(port["target"]) for port in headend["ports"]] == [settings.port]
    roles = {token.name: token.role for token in settings.tokens}
    assert set(roles.values()) == set(Role)


def test_healthcheck_token_is_a_reader_token_compose_passes_in(
    compose_model: dict[str, Any],
) -> None:
    headend = _service(compose_model, "headend")
    assert headend["healthcheck"]["test"] == ["CMD", "headend", "healthcheck"]
    secret = headend["environment"][DEFAULT_TOKEN_ENV]
    settings = api_settings(load_fleet_config(FLEET_SAMPLE), headend["environment"])
    assert [token.role for token in settings.tokens if token.token == secret] == [Role.READER]


def test_docs_ask_for_a_read_and_write_influx_token() -> None:
    """The head-end reads its bucket back (billing, history): a write-only token breaks it."""
    text = " ".join(DEPLOYMENT_DOC.read_text(encoding="utf-8").split())
    assert "write-only token for the bucket" not in text
    assert "**read and write** on the bucket" in text
    assert "--read-bucket" in text
    assert "--write-bucket" in text

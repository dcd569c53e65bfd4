"""Grafana provisioning and dashboards: every query names things storage really writes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headend.anomaly.config import AnomalyConfig
from tests.deploy.flux_refs import flux_refs
from tests.deploy.paths import DASHBOARD_PROVIDERS, DASHBOARDS, DATASOURCES
from tests.deploy.stored_schema import (
    FLUX_COLUMNS,
    all_fields,
    all_tags,
    known_quantities,
    stored_measurements,
)

DASHBOARD_FILES = sorted(DASHBOARDS.glob("*.json"))
_GRAFANA_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _load(path: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return dashboard


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, Flux text) for every panel target and every query variable."""
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            yield f"{dashboard['title']} / {panel['title']} / {target['refId']}", target["query"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            yield f"{dashboard['title']} / ${variable['name']}", variable["query"]


def _by_title(title: str) -> dict[str, Any]:
    for path in DASHBOARD_FILES:
        dashboard = _load(path)
        if dashboard["title"] == title:
            return dashboard
    raise AssertionError(f"no dashboard titled {title!r} in {DASHBOARDS}")


def _panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    for panel in _panels(dashboard):
        if panel["title"] == title:
            return panel
    raise AssertionError(f"{dashboard['title']}: no panel {title!r}")


def _threshold_values(panel: dict[str, Any]) -> list[float]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [step["value"] for step in steps if step["value"] is not None]


@pytest.fixture(scope="module")
def datasource(yaml_module: Any) -> dict[str, Any]:
    document = yaml_module.safe_load(DATASOURCES.read_text(encoding="utf-8"))
    assert document["apiVersion"] == 1
    (source,) = document["datasources"]
    result: dict[str, Any] = source
    return result


def test_datasource_is_influxdb_flux_with_secrets_from_env(
    datasource: dict[str, Any], compose_model: dict[str, Any]
) -> None:
    assert datasource["type"] == "influxdb"
    assert datasource["jsonData"]["version"] == "Flux"
    token = datasource["secureJsonData"]["token"]
    org = datasource["jsonData"]["organization"]
    bucket = datasource["jsonData"]["defaultBucket"]
    grafana_env = compose_model["services"]["grafana"]["environment"]
    influx_env = compose_model["services"]["influxdb"]["environment"]
    expanded = {
        key: _GRAFANA_ENV.sub(lambda m: grafana_env[m.group(1)], value)
        for key, value in (("token", token), ("org", org), ("bucket", bucket))
    }
    assert all(_GRAFANA_ENV.fullmatch(value) for value in (token, org, bucket)), "hard-coded"
    assert expanded == {
        "token": influx_env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"],
        "org": influx_env["DOCKER_INFLUXDB_INIT_ORG"],
        "bucket": influx_env["DOCKER_INFLUXDB_INIT_BUCKET"],
    }


def test_datasource_url_is_the_influxdb_service(
    datasource: dict[str, Any], compose_model: dict[str, Any]
) -> None:
    match = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", datasource["url"])
    assert match is not None, datasource["url"]
    service = compose_model["services"][match.group(1)]
    assert service["image"].startswith("influxdb:2")
    assert match.group(2) == "8086"


def test_dashboard_provider_reads_the_mounted_folder(
    yaml_module: Any, compose_model: dict[str, Any]
) -> None:
    document = yaml_module.safe_load(DASHBOARD_PROVIDERS.read_text(encoding="utf-8"))
    (provider,) = document["providers"]
    assert provider["type"] == "file"
    assert provider["allowUiUpdates"] is False
    mounts = {
        volume["target"]: Path(volume["source"])
        for volume in compose_model["services"]["grafana"]["volumes"]
        if volume["type"] == "bind"
    }
    assert mounts[provider["options"]["path"]] == DASHBOARDS


def test_expected_dashboards_exist_with_unique_uids() -> None:
    dashboards = [_load(path) for path in DASHBOARD_FILES]
    titles = {dashboard["title"] for dashboard in dashboards}
    assert {"Fleet overview", "Meter detail"} <= titles
    uids = [dashboard["uid"] for dashboard in dashboards]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_every_panel_uses_the_provisioned_datasource(
    path: Path, datasource: dict[str, Any]
) -> None:
    dashboard = _load(path)
    expected = {"type": "influxdb", "uid": datasource["uid"]}
    users = [*_panels(dashboard), *dashboard["templating"]["list"]]
    users += [target for panel in _panels(dashboard) for target in panel.get("targets", [])]
    for user in users:
        if "datasource" in user or "targets" in user:
            assert user["datasource"] == expected, user.get("title", user.get("refId"))


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda path: path.name)
def test_queries_name_only_stored_schema(path: Path) -> None:
    dashboard = _load(path)
    measurements = stored_measurements()
    allowed_columns = FLUX_COLUMNS | all_tags() | all_fields()
    queries = list(_queries(dashboard))
    assert queries
    for where, query in queries:
        refs = flux_refs(query)
        assert refs.measurements, f"{where}: query names no measurement"
        assert refs.measurements <= set(measurements), f"{where}: {sorted(refs.measurements)}"
        fields = set().union(*(measurements[name].fields for name in refs.measurements))
        assert refs.fields <= fields, f"{where}: fields {sorted(refs.fields - fields)}"
        unknown_quantities = refs.quantities - known_quantities()
        assert not unknown_quantities, f"{where}: quantities {sorted(unknown_quantities)}"
        assert refs.columns <= allowed_columns, f"{where}: {sorted(refs.columns - allowed_columns)}"


def test_fleet_voltage_thresholds_are_the_gbt_12325_band() -> None:
    band = AnomalyConfig().single_phase
    panel = _panel(_by_title("Fleet overview"), "Voltage per building")
    assert _threshold_values(panel) == pytest.approx([band.low_v, band.high_v])
    style = panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
    assert style != "off", "limits must be drawn on the graph"


def test_meter_voltage_thresholds_are_the_gbt_12325_band() -> None:
    band = AnomalyConfig().single_phase
    panel = _panel(_by_title("Meter detail"), "Voltage")
    assert _threshold_values(panel) == pytest.approx([band.low_v, band.high_v])


def test_load_rate_thresholds_match_the_anomaly_rules() -> None:
    config = AnomalyConfig()
    panel = _panel(_by_title("Fleet overview"), "Transformer load rate")
    assert panel["fieldConfig"]["defaults"]["unit"] == "percent"
    expected = [100 * config.heavy_load_rate, 100 * config.overload_rate]
    assert _threshold_values(panel) == pytest.approx(expected)
    assert flux_refs(panel["targets"][0]["query"]).quantities == {"load_rate"}


def test_fleet_overview_covers_collection_and_events() -> None:
    dashboard = _by_title("Fleet overview")
    measurements = set().union(*(flux_refs(q).measurements for _, q in _queries(dashboard)))
    assert {"instant", "collection", "event"} <= measurements


def test_meter_detail_is_templated_on_meter() -> None:
    dashboard = _by_title("Meter detail")
    (variable,) = dashboard["templating"]["list"]
    assert variable["name"] == "meter"
    assert "meter" in flux_refs(variable["query"]).columns
    quantities: set[str] = set()
    for panel in _panels(dashboard):
        for target in panel["targets"]:
            assert 'r.meter == "${meter}"' in target["query"], panel["title"]
            quantities |= flux_refs(target["query"]).quantities
    assert {"voltage_a", "current_a", "power_active_total", "energy_active_import_total"} <= (
        quantities
    )

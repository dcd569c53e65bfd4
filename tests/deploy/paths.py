"""Where the deployment files live, so every test names them the same way."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
DEPLOY = REPO / "deploy"
ENV_EXAMPLE = DEPLOY / "env.example"
FLEET_SAMPLE = DEPLOY / "headend" / "fleet.toml"
MOSQUITTO_CONF = DEPLOY / "mosquitto" / "mosquitto.conf"
GRAFANA = DEPLOY / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "influxdb.yaml"
DASHBOARD_PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "dashboards.yaml"
DASHBOARDS = GRAFANA / "dashboards"
DEPLOYMENT_DOC = REPO / "docs" / "deployment.md"

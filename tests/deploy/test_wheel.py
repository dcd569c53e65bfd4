"""The wheel the Dockerfile installs carries everything ``headend`` needs at run time.

Built the way the image builds it (the same files copied, ``pip wheel --no-deps``), then run
from the unpacked wheel instead of the source tree, which is what a non-editable install is.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from simulators.scenario import SCENARIO_DIR
from tests.deploy.dockerfile import read_instructions, stages
from tests.deploy.paths import DOCKERFILE, REPO


def copied_by_the_build_stage() -> list[str]:
    """What the Dockerfile's build stage copies before ``pip wheel``, read from the Dockerfile
    itself, so a package it stops copying fails here as it would fail in the image."""
    build = stages(read_instructions(DOCKERFILE))[0]
    return [
        source.rstrip("/")
        for instruction in build
        if instruction.keyword == "COPY"
        for source in instruction.arguments.split()[:-1]
    ]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    copied = copied_by_the_build_stage()
    assert {"pyproject.toml", "simulators"} <= set(copied)
    for name in copied:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheels")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("headend-*.whl")
    return built


def test_wheel_carries_every_bundled_scenario(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled = sorted(SCENARIO_DIR.glob("*.toml"))
    assert bundled
    for scenario in bundled:
        assert f"simulators/scenarios/{scenario.name}" in names


def test_simulate_finds_a_bundled_scenario_in_the_installed_wheel(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run(
        [sys.executable, "-c", "import simulators.scenario as s; print(s.SCENARIO_DIR)"],
        env=env,
        cwd=tmp_path,  # not the checkout: python puts the working directory first on sys.path
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert Path(probe.stdout.strip()).is_relative_to(site), "imported the source tree instead"
    with subprocess.Popen(
        [sys.executable, "-m", "headend.cli", "simulate", "smoke"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line.strip())
            if line.strip() == "ready":
                break
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert lines[-1:] == ["ready"], err
    assert lines[0].startswith("scenario smoke: 8 meters")
    assert process.returncode == 0, err

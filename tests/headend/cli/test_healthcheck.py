"""``headend healthcheck`` against a real ``headend run``: it passes only for a usable API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from headend.cli import main
from headend.cli.errors import ExitCode
from tests.support.fleet_text import one_meter_fleet
from tests.support.ports import free_tcp_port

TOKEN = "reader-secret-for-the-healthcheck"
FLEET = (
    one_meter_fleet("1h")
    + """
[api]
listen = "127.0.0.1:{port}"
[[api.tokens]]
name = "monitor"
role = "reader"
token_env = "HEALTHCHECK_TEST_TOKEN"
"""
)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[str]:
    """A head-end serving its API; yields the base URL."""
    port = free_tcp_port()
    config = tmp_path / "fleet.toml"
    config.write_text(FLEET.format(port=port), encoding="utf-8")
    env = {**os.environ, "HEALTHCHECK_TEST_TOKEN": TOKEN}
    argv = ["run", "--config", str(config), "--data-dir", str(tmp_path / "var")]
    with subprocess.Popen(
        [sys.executable, "-m", "headend.cli", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        started = next((x for x in process.stdout if x.startswith("head-end running")), None)
        try:
            assert started is not None, process.stderr.read() if process.stderr else ""
            yield f"http://127.0.0.1:{port}"
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=60)


def _check(url: str, token: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HEADEND_TOKEN_READER"}
    if token is not None:
        env["HEADEND_TOKEN_READER"] = token
    return subprocess.run(
        [sys.executable, "-m", "headend.cli", "healthcheck", "--url", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_healthy_when_an_authenticated_request_succeeds(running: str) -> None:
    done = _check(running, TOKEN)
    assert done.returncode == ExitCode.OK, done.stderr


def test_unhealthy_when_the_token_is_refused(running: str) -> None:
    done = _check(running, "not-the-configured-token")
    assert done.returncode == ExitCode.BAD_REPLY
    assert "/api/alarms: HTTP 401" in done.stderr


def test_unhealthy_without_a_token(running: str) -> None:
    done = _check(running, None)
    assert done.returncode == ExitCode.USAGE
    assert "HEADEND_TOKEN_READER is not set" in done.stderr


def test_unhealthy_when_nothing_listens() -> None:
    done = _check(f"http://127.0.0.1:{free_tcp_port()}", TOKEN)
    assert done.returncode == ExitCode.LINK_FAILED
    assert "/health" in done.stderr


def test_by_default_it_asks_the_hosts_network_name_not_loopback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In a container the host name is its network address: a head-end that listens on its
    loopback only is unreachable there, as it is for every client outside."""
    monkeypatch.setenv("HEADEND_TOKEN_READER", TOKEN)
    monkeypatch.setattr(socket, "gethostname", lambda: "headend-container.invalid")
    assert main(["healthcheck", "--timeout", "2"]) == ExitCode.LINK_FAILED
    assert "http://headend-container.invalid:8080/health" in capsys.readouterr().err

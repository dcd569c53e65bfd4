"""``headend simulate`` and ``headend run`` as real child processes, as a user starts them.

Each process's stdout is read line by line by a thread into a queue, so a fixture waits for the
line that says the process is ready (``ready``, ``head-end running: ... at URL``) with a bounded
deadline instead of sleeping; stderr goes to a log file quoted in every failure. Stopping sends
SIGINT (what Ctrl-C does) and kills only after a bounded wait.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from headend.api.auth import STREAM_TOKEN_PARAMETER
from headend.cli.simulate import READY, TOKEN_ROLES, token_variable
from headend.clock import WarpedClock
from headend.config.fleet import FleetConfig, load_fleet_config
from tests.support.ports import free_tcp_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
"""Generous: each process imports numpy and the whole head-end on a shared 2-core box."""
STOP_TIMEOUT_S = 20.0
POLL_INTERVAL_S = 0.2
"""How often ``HeadEnd.wait_for`` asks again: well under any state's expected arrival."""
_HEADEND_URL = re.compile(r"^head-end running: dashboard and API at (\S+)$")
_TOKEN = re.compile(r"^api token (\w+): export (\w+)=(\S+)$")


class ChildProcess:
    """One ``python -m headend.cli ...`` child with its stdout lines in a queue."""

    def __init__(self, name: str, args: Sequence[str], log_dir: Path, env: Mapping[str, str]):
        self.name = name
        self.stderr_path = log_dir / f"{name}.stderr"
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        with self.stderr_path.open("ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "headend.cli", *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=REPO,
                env=dict(env),
                text=True,
            )
        self._reader = threading.Thread(target=self._read, name=f"{name} stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for_line(
        self, matches: Callable[[str], bool], timeout: float = START_TIMEOUT_S
    ) -> str:
        """The first new stdout line that ``matches``; fails with the output if it exits first."""
        deadline = _Deadline(timeout)
        while True:
            try:
                line = self._queue.get(timeout=deadline.left())
            except queue.Empty:
                raise AssertionError(
                    f"{self.name}: no matching line within {timeout:.0f} s: {self.lines} "
                    f"{self.stderr()[-3000:]}"
                ) from None
            if line is None:
                raise AssertionError(
                    f"{self.name} exited ({self.process.wait()}) before the expected line: "
                    f"{self.lines} {self.stderr()[-3000:]}"
                )
            self.lines.append(line)
            if matches(line):
                return line

    def stop(self) -> int:
        """SIGINT, then SIGKILL after ``STOP_TIMEOUT_S``; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=STOP_TIMEOUT_S)
        while True:  # keep what was printed while stopping
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return self.process.returncode


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self._end - time.monotonic())


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without any API token, plus ``extra``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HEADEND_TOKEN_")}
    environ.update(extra or {})
    return environ


@dataclass
class Simulation:
    """A running ``headend simulate`` and what it printed and wrote."""

    child: ChildProcess
    config_path: Path
    seed: int
    tokens: dict[str, str]
    """Role -> secret, as printed once at start."""
    buses: dict[str, str] = field(default_factory=dict)
    """Bus id -> tcp:// URL, as printed."""

    def config(self) -> FleetConfig:
        return load_fleet_config(self.config_path)

    def clock(self) -> WarpedClock:
        """The simulator's clock, rebuilt from the written ``[clock]`` table."""
        clock = self.config().clock
        assert clock.start is not None, "the written config has no [clock] start"
        return WarpedClock(clock.start, clock.speed, clock.anchor)

    def wait_until(self, moment: datetime) -> None:
        """Let simulated time reach ``moment`` (the head-end down, the meter's profile slots
        past): the awaited event is the clock itself, so sleeping for it is the wait."""
        clock = self.clock()
        time.sleep(max(0.0, clock.real_seconds((moment - clock.now()).total_seconds())))

    def token_environ(self) -> dict[str, str]:
        return {token_variable(role): secret for role, secret in self.tokens.items()}


def start_simulation(
    scenario: str,
    workdir: Path,
    *,
    seed: int,
    extra: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Simulation:
    """``headend simulate SCENARIO --write-config``: returns once it printed ``ready``;
    ``environ`` adds variables (an ESAM master key)."""
    config_path = workdir / "fleet.toml"
    args = ["simulate", scenario, "--seed", str(seed), "--write-config", str(config_path), *extra]
    child = ChildProcess("simulate", args, workdir, clean_environ(environ))
    try:
        child.wait_for_line(lambda line: line == READY)
    except BaseException:
        child.stop()
        raise
    tokens = {}
    buses = {}
    for line in child.lines:
        token = _TOKEN.match(line)
        if token is not None:
            tokens[token.group(1)] = token.group(3)
        if line.startswith("bus "):
            buses[line.split()[1]] = line.split()[2]
    return Simulation(child, config_path, seed, tokens, buses)


def start_master_simulation(
    scenario: str, tmp_path: Path, *, seed: int, extra: Sequence[str] = ()
) -> Simulation:
    """``start_simulation`` in ``tmp_path / "simulate"`` with ``--master`` on a free loopback
    port: the concentrators dial that port, and the fleet file written names it for
    ``headend run``."""
    workdir = tmp_path / "simulate"
    workdir.mkdir()
    master = f"127.0.0.1:{free_tcp_port()}"
    return start_simulation(scenario, workdir, seed=seed, extra=["--master", master, *extra])


@dataclass
class HeadEnd:
    """A running ``headend run`` and a client for its API."""

    child: ChildProcess
    url: str
    tokens: Mapping[str, str]

    def get(self, path: str, *, role: str = "reader", **params: Any) -> Any:
        response = self.request("GET", path, role=role, params=params)
        return response.json()

    def request(
        self, method: str, path: str, *, role: str = "reader", **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        response = httpx.request(
            method, self.url.rstrip("/") + path, headers=headers, timeout=30.0, **kwargs
        )
        assert response.status_code == 200, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response

    def wait_for(
        self,
        path: str,
        matches: Callable[[Any], bool],
        *,
        timeout: float = START_TIMEOUT_S,
        **params: Any,
    ) -> Any:
        """The first answer of ``GET path`` that ``matches``, asked again every
        ``POLL_INTERVAL_S``: for a state the API shows but no stream announces (a terminal
        logged in), which may already hold by the time the test can listen."""
        deadline = _Deadline(timeout)
        while True:
            answer = self.get(path, **params)
            if matches(answer):
                return answer
            if deadline.left() == 0:
                raise AssertionError(f"GET {path} did not match within {timeout:.0f} s: {answer}")
            time.sleep(min(POLL_INTERVAL_S, deadline.left()))

    def stop(self) -> int:
        return self.child.stop()

    @contextmanager
    def stream(self) -> Iterator[LiveReadings]:
        """The live event stream (what the dashboard listens to), open until the block ends."""
        params = {STREAM_TOKEN_PARAMETER: self.tokens["reader"]}
        with httpx.stream(
            "GET", self.url.rstrip("/") + "/api/stream", params=params, timeout=START_TIMEOUT_S
        ) as response:
            assert response.status_code == 200, response.read()
            yield LiveReadings(response.iter_lines())


class LiveReadings:
    """The ``reading`` events of an SSE stream, waited for one at a time."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines

    def next_reading(
        self, matches: Callable[[dict[str, Any]], bool], timeout: float = START_TIMEOUT_S
    ) -> dict[str, Any]:
        reading: dict[str, Any] = self._next("reading", matches, timeout)
        return reading

    def next_alarms(
        self, matches: Callable[[list[dict[str, Any]]], bool], timeout: float = START_TIMEOUT_S
    ) -> list[dict[str, Any]]:
        """The next open-alarm list (``alarms`` event, sent at connect and on each change)
        that ``matches``."""
        alarms: list[dict[str, Any]] = self._next("alarms", matches, timeout)
        return alarms

    def _next(self, name: str, matches: Callable[[Any], bool], timeout: float) -> Any:
        deadline = _Deadline(timeout)
        event = ""
        for line in self._lines:
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == name:
                data = json.loads(line.removeprefix("data: "))
                if matches(data):
                    return data
            if deadline.left() == 0:
                break
        raise AssertionError(f"no matching {name} on the live stream within {timeout:.0f} s")


def start_headend(
    simulation: Simulation,
    data_dir: Path,
    *,
    port: int,
    name: str = "run",
    environ: Mapping[str, str] | None = None,
) -> HeadEnd:
    """``headend run --config <written> --data-dir D``, returning once the API answers."""
    assert set(simulation.tokens) == set(TOKEN_ROLES), f"tokens printed: {simulation.tokens}"
    args = [
        "run",
        "--config",
        str(simulation.config_path),
        "--data-dir",
        str(data_dir),
        "--listen",
        f"127.0.0.1:{port}",
    ]
    data_dir.mkdir(parents=True, exist_ok=True)
    child = ChildProcess(
        name, args, data_dir, clean_environ({**simulation.token_environ(), **(environ or {})})
    )
    try:
        line = child.wait_for_line(lambda text: _HEADEND_URL.match(text) is not None)
        match = _HEADEND_URL.match(line)
        assert match is not None
        headend = HeadEnd(child, match.group(1), simulation.tokens)
        headend.get("/api/meters")  # the API answers with the printed reader token
    except BaseException:
        child.stop()
        raise
    return headend


def cli(
    args: Sequence[str], environ: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A one-shot ``headend ...`` command (``headend read`` against a simulated gateway);
    ``environ`` adds variables (a token for a command that asks the API)."""
    return subprocess.run(
        [sys.executable, "-m", "headend.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=clean_environ(environ),
        timeout=START_TIMEOUT_S,
        check=False,
    )


def read_meter(url: str, address: str, quantities: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``headend read dlt645 URL --address A --quantity Q... --json``: name -> value entry."""
    args = ["read", "dlt645", url, "--address", address, "--json"]
    for quantity in quantities:
        args += ["--quantity", quantity]
    done = cli(args)
    assert done.returncode == 0, done.stderr
    return {value["name"]: value for value in json.loads(done.stdout)["values"]}

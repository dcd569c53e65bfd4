"""Real time-series servers on loopback for storage tests: VictoriaMetrics and InfluxDB 1.6.

Each server runs as a child process on a free port with its data in a temporary directory. Start
waits for the readiness endpoint with a bounded deadline; stop/start keep the data directory, so
tests can take the server away mid-run and bring it back.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.ports import free_tcp_port

VICTORIA_METRICS_BINARY = "/usr/bin/victoria-metrics"
INFLUXD_BINARY = "/usr/bin/influxd"


def binary_available(path: str) -> bool:
    """Whether a server binary is installed (tests skip with a reason otherwise)."""
    return shutil.which(path) is not None


def _http(url: str, data: bytes | None = None, timeout_s: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class ServerProcess:
    """A server child process with a readiness probe."""

    ready_path = "/"
    ready_status = 200

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / f"{type(self).__name__}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def pid(self) -> int:
        """The running server's process id (benchmarks read its CPU time from /proc)."""
        if self._process is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return self._process.pid

    def start(self, deadline_s: float = 30.0) -> None:
        """Start and wait until the readiness endpoint answers (or fail with the server log)."""
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        give_up = time.monotonic() + deadline_s
        while time.monotonic() < give_up:
            if self._process.poll() is not None:
                break
            try:
                status, _ = _http(self.url + self.ready_path, timeout_s=1.0)
            except OSError:
                status = 0
            if status == self.ready_status:
                return
            time.sleep(0.05)  # polling a readiness endpoint, bounded by the deadline
        self.stop()
        raise RuntimeError(
            f"{type(self).__name__} did not become ready on {self.url}: "
            f"{self._log.read_text(errors='replace')[-2000:]}"
        )

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), killing after a bounded wait."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


class VictoriaMetrics(ServerProcess):
    """VictoriaMetrics single-node: accepts /write and /api/v2/write line protocol."""

    ready_path = "/health"

    def command(self) -> list[str]:
        return [
            VICTORIA_METRICS_BINARY,
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.workdir / 'data'}",
            "-retentionPeriod=100y",
            "-loggerLevel=ERROR",
            "-search.disableCache",
            "-search.latencyOffset=0s",
        ]

    def export(self, selector: str) -> list[dict[str, Any]]:
        """All raw samples of the matching series, after forcing a flush to searchable parts."""
        _http(self.url + "/internal/force_flush")
        query = urllib.parse.urlencode({"match[]": selector, "start": "0"})
        status, body = _http(f"{self.url}/api/v1/export?{query}")
        if status != 200:
            raise RuntimeError(f"export {selector}: HTTP {status}: {body[:300]!r}")
        return [json.loads(line) for line in body.splitlines() if line.strip()]


class InfluxDB16(ServerProcess):
    """InfluxDB 1.6 (Debian's influxdb): /write and InfluxQL /query, no v2 API."""

    ready_path = "/ping"
    ready_status = 204

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.rpc_port = free_tcp_port()
        self.config = workdir / "influxdb.conf"
        self.config.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{workdir / "meta"}"\n'
            f'[data]\n  dir = "{workdir / "data"}"\n  wal-dir = "{workdir / "wal"}"\n'
            "  query-log-enabled = false\n"
            "[monitor]\n  store-enabled = false\n"
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
        )

    def command(self) -> list[str]:
        return [INFLUXD_BINARY, "run", "-config", str(self.config)]

    def query(self, influxql: str, database: str | None = None) -> dict[str, Any]:
        """Run InfluxQL and return the first result (raises on errors)."""
        params = {"q": influxql, "epoch": "ns"}
        if database:
            params["db"] = database
        status, body = _http(f"{self.url}/query", data=urllib.parse.urlencode(params).encode())
        document = json.loads(body)
        if status != 200 or "error" in document:
            raise RuntimeError(f"query {influxql!r}: HTTP {status}: {document}")
        result: dict[str, Any] = document["results"][0]
        if "error" in result:
            raise RuntimeError(f"query {influxql!r}: {result['error']}")
        return result

    def create_database(self, name: str) -> None:
        """Create a database (idempotent)."""
        self.query(f'CREATE DATABASE "{name}"')

"""A real mosquitto broker on loopback for MQTT tests.

Tests talk to Debian's /usr/sbin/mosquitto rather than a mock because reconnect behaviour, QoS
and retained messages are exactly what mocks get wrong. Each broker gets its own config and
directory, listens on 127.0.0.1 only, keeps nothing on disk, and can be stopped and restarted
on the same port so reconnect logic can be tested.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.ports import free_tcp_port

MOSQUITTO = Path("/usr/sbin/mosquitto")
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


class MosquittoError(RuntimeError):
    """The broker could not be started or did not come up in time."""


class MosquittoBroker:
    """One mosquitto process; ``start``/``stop``/``restart`` keep the same host and port."""

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        config_text: str | None = None,
    ) -> None:
        """``config_text`` replaces the generated config (e.g. the deployment's, with ACLs);
        it must have a listener on ``port``, which start() waits for."""
        self.host = host
        self.port = free_tcp_port() if port is None else port
        self.workdir = workdir
        self.config = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.config.write_text(
            config_text
            or "\n".join(
                (
                    f"listener {self.port} {self.host}",
                    "allow_anonymous true",
                    "persistence false",
                    "log_dest stderr",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "",
                )
            )
        )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the broker and return once it accepts TCP connections."""
        if self.running:
            raise MosquittoError(f"mosquitto on port {self.port} is already running")
        if not MOSQUITTO.exists():
            raise MosquittoError(f"{MOSQUITTO} not found (apt-get install mosquitto)")
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [str(MOSQUITTO), "-c", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise MosquittoError(
                    f"mosquitto exited with {self._process.returncode}: {self.log_text()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)  # polling a port: there is no event to wait on
        self.stop()
        raise MosquittoError(
            f"mosquitto did not listen on {self.host}:{self.port} within {START_TIMEOUT_S} s"
        )

    def stop(self) -> None:
        """Terminate the broker (clients see the connection drop) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)

    def restart(self) -> None:
        """Stop and start again on the same port, for reconnect tests."""
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextmanager
def running_mosquitto(workdir: Path) -> Iterator[MosquittoBroker]:
    """A started broker, stopped on exit whatever happened inside."""
    broker = MosquittoBroker(workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()

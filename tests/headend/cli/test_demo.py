"""`headend demo` end to end, as `make demo` runs it: simulators, head-end, API, clean Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

HEADEND = Path(sys.executable).with_name("headend")


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def test_demo_serves_the_dashboard_and_stops_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            str(HEADEND),
            "demo",
            "--scenario",
            "smoke",
            "--speed",
            "30",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:  # blocks until the demo prints; no sleeps
            lines.append(line)
            if line.startswith("dashboard: "):
                break
        url, _, token = lines[-1].removeprefix("dashboard: ").strip().partition("#token=")
        status, body = get(f"{url}health")
        assert status == 200
        status, page = get(url)
        assert b"<html" in page.lower()
        status, body = get(f"{url}api/meters", token)
        meters = json.loads(body)
        assert len(meters) >= 3
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert (tmp_path / "demo.sqlite").exists()

"""`headend demo` end to end, as `make demo` runs it: simulators, head-end, API, clean Ctrl-C."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

from tests.support.demo import dashboard, start_demo


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def test_demo_serves_the_dashboard_and_stops_cleanly(tmp_path: Path) -> None:
    process, lines = start_demo(["--scenario", "smoke", "--speed", "30"], tmp_path)
    try:
        url, token = dashboard(lines)
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

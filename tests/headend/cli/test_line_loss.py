"""``headend line-loss``: the summary line, and mistakes told apart by exit code (a bad day
or missing token before anything is asked; the API's 404 as a bad argument; no head-end as a
link failure). The real figure through a running head-end: tests/system/test_line_loss.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from headend.cli import main
from headend.cli.errors import ExitCode
from headend.cli.line_loss import summary
from tests.support.ports import free_tcp_port

TOKEN_ENV = "LINE_LOSS_TEST_TOKEN"
FIGURE = {
    "transformer": "T1",
    "day": "2026-07-16",
    "supplied": {"kwh": 177.3438},
    "customers_kwh": 160.1,
    "loss_kwh": 17.2438,
    "loss_percent": 9.7234,
    "expected": 8,
    "included": 7,
    "missing": ["S2-H002"],
    "quality": "incomplete",
    "anomaly": "above_threshold",
    "threshold_percent": 5.0,
}


def test_the_summary_line_says_the_figure_and_how_far_to_trust_it() -> None:
    assert summary(FIGURE) == (
        "T1 2026-07-16: supplied 177.344 kWh, customers 160.100 kWh, loss 17.244 kWh"
        " (9.72 %); incomplete (7/8 meters, missing S2-H002); anomaly above_threshold"
        " (threshold 5 %)"
    )
    no_supply = {**FIGURE, "supplied": {"kwh": None}, "loss_kwh": None, "loss_percent": None}
    assert "supplied n/a, customers 160.100 kWh, loss n/a;" in summary(no_supply)


def test_a_bad_day_and_a_missing_token_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert main(["line-loss", "2026-13-01", "--token-env", TOKEN_ENV]) == ExitCode.USAGE
    assert "expected YYYY-MM-DD, got '2026-13-01'" in capsys.readouterr().err
    assert main(["line-loss", "2026-07-16", "--token-env", TOKEN_ENV]) == ExitCode.USAGE
    assert f"environment variable {TOKEN_ENV} is not set" in capsys.readouterr().err


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"detail": "unknown transformer 'T9'"}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def refusing_api() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_an_unknown_transformer_is_a_bad_argument_and_no_head_end_a_link_failure(
    refusing_api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "secret")
    args = ["line-loss", "2026-07-16", "--transformer", "T9", "--token-env", TOKEN_ENV]
    assert main([*args, "--url", refusing_api]) == ExitCode.USAGE
    assert "HTTP 404" in capsys.readouterr().err
    nobody = f"http://127.0.0.1:{free_tcp_port()}"
    assert main([*args, "--url", nobody, "--timeout", "5"]) == ExitCode.LINK_FAILED
    assert nobody in capsys.readouterr().err

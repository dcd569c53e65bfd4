"""``headend line-loss DAY``: a day's line loss (台区线损) per transformer from a running
head-end's API, one line per transformer and one per suspect meter, or the API's JSON.

Through the API, not the files: the figure needs the store, the archive and the site's
``[line_loss]`` thresholds exactly as the head-end reads them (docs/line-loss.md). Standard
library only, like ``control`` and ``healthcheck``.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import date
from typing import Any

from headend.cli.errors import CommandFailed, ExitCode, UsageProblem

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TOKEN_ENV = "HEADEND_TOKEN_READER"
PATH = "/api/area/line-loss"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "line-loss",
        help="a day's line loss per transformer from the head-end's API",
        description="Print the line loss of a local day per transformer: supplied, customers, "
        "loss and rate, completeness, quality, anomaly and the meters likely behind it.",
    )
    parser.add_argument("day", type=_day, help="local day, YYYY-MM-DD")
    parser.add_argument("--transformer", help="one transformer (default: every transformer)")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"API base URL ({DEFAULT_URL})")
    parser.add_argument(
        "--token-env",
        default=DEFAULT_TOKEN_ENV,
        metavar="VAR",
        help=f"environment variable holding a reader token (default {DEFAULT_TOKEN_ENV})",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait")
    parser.add_argument("--json", action="store_true", help="print the API's JSON")
    parser.set_defaults(handler=run, parser=parser)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    token = os.environ.get(args.token_env)
    if not token:
        raise UsageProblem(f"--token-env: environment variable {args.token_env} is not set")
    query = {"day": args.day.isoformat()}
    if args.transformer:
        query["transformer"] = args.transformer
    answer = _get(args.url.rstrip("/") + PATH, query, token, args.timeout)
    if args.json:
        print(json.dumps(answer, ensure_ascii=False))
        return ExitCode.OK
    for figure in answer.get("line_loss", []):
        print(summary(figure))
        for suspect in figure.get("suspects", []):
            print(f"  suspect {suspect['meter']} {suspect['reason']}: {suspect['detail']}")
    return ExitCode.OK


def summary(figure: dict[str, Any]) -> str:
    """One transformer's day on one line."""

    def kwh(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f} kWh"

    rate = figure["loss_percent"]
    loss = kwh(figure["loss_kwh"]) + ("" if rate is None else f" ({rate:.2f} %)")
    counted = f"{figure['included']}/{figure['expected']} meters"
    if figure["missing"]:
        counted += f", missing {', '.join(figure['missing'])}"
    anomaly = figure["anomaly"] or "none"
    return (
        f"{figure['transformer']} {figure['day']}: supplied {kwh(figure['supplied']['kwh'])},"
        f" customers {kwh(figure['customers_kwh'])}, loss {loss}; {figure['quality']}"
        f" ({counted}); anomaly {anomaly} (threshold {figure['threshold_percent']:g} %)"
    )


def _get(url: str, query: dict[str, str], token: str, timeout: float) -> dict[str, Any]:
    import urllib.error
    import urllib.parse
    import urllib.request

    full = f"{url}?{urllib.parse.urlencode(query)}"
    request = urllib.request.Request(
        full, headers={"Accept": "application/json", "Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")
        if exc.code in (404, 422):  # an unknown transformer, a day that has not ended
            raise UsageProblem(f"{full}: HTTP {exc.code}: {detail}") from None
        raise CommandFailed(ExitCode.BAD_REPLY, f"{full}: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CommandFailed(ExitCode.LINK_FAILED, f"{full}: {reason}") from None
    except ValueError:
        raise CommandFailed(ExitCode.BAD_REPLY, f"{full}: reply is not JSON") from None
    if not isinstance(body, dict):
        raise CommandFailed(ExitCode.BAD_REPLY, f"{full}: reply is not a JSON object")
    return body

"""``headend control``: relay and administrative orders through a running head-end's API.

The orders go through the API, not straight onto a bus, so they are audited, sealed for
secured meters and queued in the control lane like the control room's. ``relay`` takes the
operator's ``--reason``; meter clear, event clear, demand clear and change password cannot be
undone and need ``--confirm <meter>`` repeating the meter id: without it the command stops
here, before anything is sent (the API refuses it too). Standard library only, like
``healthcheck``.
"""

from __future__ import annotations

import argparse
import json
import os

from headend.cli.errors import CommandFailed, ExitCode, UsageProblem

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TOKEN_ENV = "HEADEND_TOKEN"
ADMIN_ORDERS = {
    "meter-clear": "meter_clear",
    "event-clear": "event_clear",
    "demand-clear": "demand_clear",
    "change-password": "change_password",
}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "control",
        help="trip/close a relay or clear a meter through the head-end's API (audited)",
        description="Send a relay or administrative order to one meter through a running "
        "head-end's API; prints the head-end's answer as JSON.",
    )
    parser.add_argument("--url", default=DEFAULT_URL, help=f"API base URL ({DEFAULT_URL})")
    parser.add_argument(
        "--token-env",
        default=DEFAULT_TOKEN_ENV,
        metavar="VAR",
        help="environment variable holding an operator (relay) or admin (clears) token",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait")
    orders = parser.add_subparsers(title="orders", metavar="ORDER", dest="order", required=True)
    relay = orders.add_parser("relay", help="trip or close the supply relay (operator)")
    relay.add_argument("meter")
    relay.add_argument("action", choices=("trip", "close_permitted", "close_direct"))
    relay.add_argument("--reason", default="", help="why: unpaid, customer request, ...")
    for name in ADMIN_ORDERS:
        admin = orders.add_parser(name, help=f"{name.replace('-', ' ')} (admin; --confirm)")
        admin.add_argument("meter")
        admin.add_argument("--confirm", metavar="METER", help="the meter id again: required")
        admin.add_argument("--reason", default="")
        if name == "change-password":
            admin.add_argument("--new-password", required=True, help="level + password, 8 hex")
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    token = os.environ.get(args.token_env)
    if not token:
        raise UsageProblem(f"--token-env: environment variable {args.token_env} is not set")
    base = args.url.rstrip("/")
    if args.order == "relay":
        path = f"/api/meters/{args.meter}/relay"
        body: dict[str, object] = {"action": args.action, "reason": args.reason}
    else:
        if args.confirm != args.meter:
            given = "not given" if args.confirm is None else f"{args.confirm!r} given"
            raise UsageProblem(
                f"{args.order} of meter {args.meter} cannot be undone: repeat the meter id with "
                f"--confirm {args.meter} ({given}); nothing was sent"
            )
        path = f"/api/meters/{args.meter}/admin"
        body = {"order": ADMIN_ORDERS[args.order], "confirm": args.confirm, "reason": args.reason}
        if args.order == "change-password":
            body["new_password"] = args.new_password
    answer = _post(base + path, token, body, args.timeout)
    print(json.dumps(answer, ensure_ascii=False))
    return ExitCode.OK


def _post(url: str, token: str, body: dict[str, object], timeout: float) -> object:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {token}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")
        code = ExitCode.METER_ERROR if exc.code == 502 else ExitCode.BAD_REPLY
        raise CommandFailed(code, f"{url}: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CommandFailed(ExitCode.LINK_FAILED, f"{url}: {reason}") from None
    except ValueError:
        raise CommandFailed(ExitCode.BAD_REPLY, f"{url}: reply is not JSON") from None

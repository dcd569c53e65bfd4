"""``headend healthcheck``: the container healthcheck, asking the API the way a client would.

A plain ``GET http://localhost:8080/health`` reported healthy while the API listened on the
container's loopback only and had no tokens, so nothing outside could use it. This check
connects to the container's own host name (its network address, not loopback, unless told
otherwise), needs ``/health`` to say the engine is collecting, and makes one authenticated
request with a token from the environment: it passes only when a client could do the same.
Standard library only, so it starts fast every 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket

from headend.cli.errors import CommandFailed, ExitCode, UsageProblem

DEFAULT_TOKEN_ENV = "HEADEND_TOKEN_READER"
AUTHENTICATED_PATH = "/api/alarms"
"""Small for any fleet, and behind the reader role: a 200 proves the token book is loaded."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "healthcheck",
        help="check that the API answers an authenticated client (container healthcheck)",
        description=(
            "Exit 0 when the head-end's API is collecting and accepts a reader token over the "
            "network; otherwise print why and exit non-zero."
        ),
    )
    parser.add_argument(
        "--url",
        help="base URL of the API (default: http://<this host name>:8080, i.e. not loopback)",
    )
    parser.add_argument(
        "--token-env",
        default=DEFAULT_TOKEN_ENV,
        metavar="VAR",
        help=f"environment variable holding a reader token (default {DEFAULT_TOKEN_ENV})",
    )
    parser.add_argument("--timeout", type=float, default=4.0, help="seconds per request")
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    token = os.environ.get(args.token_env)
    if not token:
        raise UsageProblem(f"--token-env: environment variable {args.token_env} is not set")
    base = (args.url or f"http://{socket.gethostname()}:8080").rstrip("/")
    health = _get(f"{base}/health", None, args.timeout)
    if not health.get("collecting"):
        raise CommandFailed(ExitCode.LINK_FAILED, f"{base}/health: engine is not collecting yet")
    _get(f"{base}{AUTHENTICATED_PATH}", token, args.timeout)
    return ExitCode.OK


def _get(url: str, token: str | None, timeout: float) -> dict[str, object]:
    # urllib.request brings http.client and email: imported for the check, not at every start.
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise CommandFailed(ExitCode.BAD_REPLY, f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CommandFailed(ExitCode.LINK_FAILED, f"{url}: {reason}") from None
    except ValueError:
        raise CommandFailed(ExitCode.BAD_REPLY, f"{url}: reply is not JSON") from None
    return body if isinstance(body, dict) else {}

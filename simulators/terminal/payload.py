"""The terminal's JSON, both ways, without any I/O.

Shape: ``{token, timestamp, body: [{dev, body: [{name, val, quality, timestamp}]}]}``.
Requests: ``{token, timestamp?, body?: [point names]}``; an empty or missing body asks for all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from simulators.community.values import TransformerValues
from simulators.terminal.config import Point, TerminalConfig
from simulators.terminal.errors import RequestError

QUALITY_GOOD = "0"
QUALITY_INVALID = "1"
"""Set on every point while the transformer is de-energised (its readings are meaningless)."""


def format_timestamp(moment: datetime, offset: timezone) -> str:
    """``2026-07-15T20:00:00.000+0800``: local time, milliseconds, offset without colon."""
    local = moment.astimezone(offset)
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{local.microsecond // 1000:03d}"
        + (local.strftime("%z"))
    )


def parse_timestamp(text: str) -> datetime:
    """Inverse of ``format_timestamp`` (accepts any ISO 8601 with offset)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return moment


@dataclass(frozen=True, slots=True)
class Request:
    token: str
    points: tuple[str, ...]
    """Requested point names; empty means all."""


def encode_values(
    config: TerminalConfig,
    values: TransformerValues,
    token: str,
    points: Sequence[Point] | None = None,
) -> bytes:
    """One telemetry (or response) message for one transformer."""
    stamp = format_timestamp(values.timestamp, config.utc_offset)
    quality = QUALITY_GOOD if values.frequency > 0 else QUALITY_INVALID
    body = []
    for point in config.points if points is None else points:
        number = point.value(values)
        val: Any = format(number, f".{point.decimals}f") if config.values_as_strings else number
        body.append({"name": point.name, "val": val, "quality": quality, "timestamp": stamp})
    document = {
        "token": token,
        "timestamp": stamp,
        "body": [{"dev": config.topic(config.dev_name, values.transformer_id), "body": body}],
    }
    return json.dumps(document, separators=(",", ":")).encode()


def encode_error(config: TerminalConfig, token: str, moment: datetime, message: str) -> bytes:
    """A response telling the requester why there is no data."""
    document = {
        "token": token,
        "timestamp": format_timestamp(moment, config.utc_offset),
        "status": "error",
        "error": message,
        "body": [],
    }
    return json.dumps(document, separators=(",", ":")).encode()


def decode_request(config: TerminalConfig, payload: bytes) -> Request:
    """Parse and check an on-demand request; ``RequestError`` carries the token if there was one."""
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(f"request is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise RequestError("request must be a JSON object")
    token = document.get("token")
    if not isinstance(token, str | int) or isinstance(token, bool) or token == "":
        raise RequestError("request.token: missing or not a string")
    token = str(token)
    body = document.get("body", [])
    if not isinstance(body, list) or not all(isinstance(n, str) for n in body):
        raise RequestError("request.body: expected a list of point names", token)
    known = {p.name for p in config.points}
    unknown = [n for n in body if n not in known]
    if unknown:
        raise RequestError(f"request.body: unknown point(s) {', '.join(unknown)}", token)
    return Request(token=token, points=tuple(body))


def decode_values(payload: bytes) -> dict[str, dict[str, str | float]]:
    """dev -> point name -> val, for tests and for a head-end that wants the simple view."""
    document = json.loads(payload)
    return {
        device["dev"]: {point["name"]: point["val"] for point in device["body"]}
        for device in document["body"]
    }

"""Typed access to one TOML table, so every config error names the file and the dotted key.

Hand-written rather than a schema library: the config is small, and the errors must read like
``fleet.toml: meters[3].address: expected 12 digits, got '12345'`` for a metering engineer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from headend.errors import HeadendError

T = TypeVar("T")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)\s*$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


class ConfigError(HeadendError, ValueError):
    """A configuration file is wrong; the message names the file, the key and the problem.

    ``meter`` is the id of the meter whose table is wrong: ``meters[212]`` alone sends an
    engineer counting tables in a 3000-line file.
    """

    def __init__(
        self, source: str | Path, key: str, problem: str, *, meter: str | None = None
    ) -> None:
        self.source = str(source)
        self.key = key
        self.problem = problem
        self.meter = meter
        where = key if meter is None else f"{key} (meter {meter})"
        super().__init__(f"{self.source}: {where}: {problem}")

    def for_meter(self, meter: str) -> ConfigError:
        """The same error, naming the meter it belongs to."""
        return ConfigError(self.source, self.key, self.problem, meter=meter)


def parse_duration(text: str | float) -> float:
    """Seconds from ``"15m"``, ``"500ms"``, ``"1h"`` or a bare number of seconds."""
    if isinstance(text, bool):
        raise ValueError(f"expected a duration, got {text!r}")
    if isinstance(text, int | float):
        if not math.isfinite(text):
            raise ValueError(f"expected a finite duration, got {text!r}")
        if text < 0:
            raise ValueError(f"duration must not be negative, got {text!r}")
        return float(text)
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"expected a duration such as '500ms', '30s', '15m', '1h', got {text!r}")
    return float(match.group(1)) * _DURATION_SECONDS[match.group(2)]


class Table:
    """One TOML table with its dotted path; reads keys with types and remembers which were used."""

    def __init__(self, source: str | Path, path: str, data: Mapping[str, Any]) -> None:
        self.source = source
        self.path = path
        self.data = data
        self._used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.source, self.key(name), problem)

    def _get(self, name: str, expected: type[T] | tuple[type, ...], default: Any) -> Any:
        self._used.add(name)
        if name not in self.data:
            if default is _REQUIRED:
                raise self.error(name, "is required")
            return default
        value = self.data[name]
        # bool is an int subclass: never accept true/false where a number is meant.
        if isinstance(value, bool) and expected is not bool:
            raise self.error(name, f"expected {_type_name(expected)}, got {value!r}")
        if not isinstance(value, expected):
            raise self.error(name, f"expected {_type_name(expected)}, got {value!r}")
        return value

    def text(self, name: str, default: str | None = None) -> str:
        value: str = self._get(name, str, _REQUIRED if default is None else default)
        return value

    def optional_text(self, name: str) -> str | None:
        value: str | None = self._get(name, str, None)
        return value

    def integer(
        self,
        name: str,
        default: int | None = None,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        value: int = self._get(name, int, _REQUIRED if default is None else default)
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(name, f"must be <= {maximum}, got {value}")
        return value

    def port(self, name: str, default: int | None = None) -> int:
        """A TCP port a client connects to: 1-65535."""
        return self.integer(name, default, minimum=1, maximum=65535)

    def number(
        self, name: str, default: float | None = None, *, minimum: float | None = None
    ) -> float:
        value = float(self._get(name, (int, float), _REQUIRED if default is None else default))
        if not math.isfinite(value):
            raise self.error(name, f"expected a finite number, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be >= {minimum}, got {value}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value: bool = self._get(name, bool, default)
        return value

    def duration(self, name: str, default: str | float | None = None) -> float:
        raw = self._get(name, (str, int, float), _REQUIRED if default is None else default)
        try:
            return parse_duration(raw)
        except ValueError as exc:
            raise self.error(name, str(exc)) from None

    def instant(self, name: str) -> datetime | None:
        """A timezone-aware instant: a TOML offset date-time or an ISO 8601 text."""
        raw: str | datetime | None = self._get(name, (str, datetime), None)
        if raw is None or isinstance(raw, datetime):
            value = raw
        else:
            try:
                value = datetime.fromisoformat(raw)
            except ValueError:
                raise self.error(
                    name, f"expected a date-time such as 2026-07-15T18:00:00+08:00, got {raw!r}"
                ) from None
        if value is not None and value.tzinfo is None:
            raise self.error(name, f"{value.isoformat()} has no UTC offset (write e.g. +08:00)")
        return value

    def text_list(self, name: str, default: list[str] | None = None) -> list[str]:
        raw = self._get(name, list, _REQUIRED if default is None else default)
        for index, item in enumerate(raw):
            if not isinstance(item, str):
                where = f"{self.key(name)}[{index}]"
                raise ConfigError(self.source, where, f"expected text, got {item!r}")
        return list(raw)

    def table(self, name: str) -> Table | None:
        raw = self._get(name, dict, None)
        return None if raw is None else Table(self.source, self.key(name), raw)

    def tables(self, name: str) -> list[Table]:
        """An array of tables (``[[name]]``); absent means empty."""
        raw = self._get(name, list, [])
        result = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                raise ConfigError(self.source, f"{self.key(name)}[{index}]", "expected a table")
            result.append(Table(self.source, f"{self.key(name)}[{index}]", item))
        return result

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.text(name, default)
        if value not in choices:
            raise self.error(name, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def reject_unknown(self) -> None:
        """Typos must not pass silently: an unknown key is an error, not a default."""
        unknown = sorted(set(self.data) - self._used)
        if unknown:
            raise self.error(unknown[0], "unknown key (typo?)")


_REQUIRED: Any = object()


def _type_name(expected: type | tuple[type, ...]) -> str:
    names = {
        str: "text",
        int: "an integer",
        float: "a number",
        bool: "true/false",
        list: "a list",
        dict: "a table",
    }
    if isinstance(expected, tuple):
        return " or ".join(names.get(t, t.__name__) for t in expected)
    return names.get(expected, expected.__name__)


def named_secrets(
    entries: list[Table], environ: Mapping[str, str], *, min_length: int
) -> list[tuple[Table, str, str]]:
    """``name`` and ``token_env`` of each entry (API tokens, MQTT requesters): the secret is
    read from the environment, never from the file. Names and secrets must be unique (a shared
    secret would make two identities one). Returns (entry, name, secret); the caller reads the
    entry's other keys and then rejects unknown ones."""
    found: list[tuple[Table, str, str]] = []
    names: set[str] = set()
    secrets: set[str] = set()
    for entry in entries:
        name = entry.text("name")
        if name in names:
            raise entry.error("name", f"duplicate name {name!r}")
        variable = entry.text("token_env")
        secret = environ.get(variable)
        if secret is None:
            raise entry.error("token_env", f"environment variable {variable} is not set")
        if len(secret) < min_length:
            raise entry.error("token_env", f"{variable} holds fewer than {min_length} characters")
        if secret in secrets:
            raise entry.error("token_env", f"{variable} holds the same secret as another entry")
        names.add(name)
        secrets.add(secret)
        found.append((entry, name, secret))
    return found

"""Value types the fleet file's pydantic models share: durations, instants, ports, tag texts.

Each is an ``Annotated`` type, so a model states what a key must be and pydantic checks it;
the ``ValueError`` messages here are what an engineer reads after the file and key
(``headend.config.errors`` turns them into a ``ConfigError``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from headend.config.durations import parse_duration
from storage.errors import RecordError
from storage.line_protocol import validate_tag_value


class FileModel(BaseModel):
    """A table of the fleet file: unknown keys are errors (typos must not pass as defaults) and
    values must have their TOML type (``"3"`` is not a number, ``1`` is not ``true``)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def _duration(value: Any) -> float:
    if not isinstance(value, str | int | float):
        raise ValueError(f"expected a duration such as '500ms', '30s', '15m', '1h', got {value!r}")
    return parse_duration(value)


def _instant(value: Any) -> datetime:
    """A TOML offset date-time, or the same as ISO 8601 text; a local time is refused."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"expected a date-time such as 2026-07-15T18:00:00+08:00, got {value!r}"
            ) from None
    if not isinstance(value, datetime):
        raise ValueError(f"expected a date-time such as 2026-07-15T18:00:00+08:00, got {value!r}")
    if value.tzinfo is None:
        raise ValueError(f"{value.isoformat()} has no UTC offset (write e.g. +08:00)")
    return value


def _tag(value: str) -> str:
    """Refused at load when it cannot be a storage tag: a newline in a building name would
    otherwise make every write of that meter fail, for as long as it runs."""
    try:
        validate_tag_value(value, "a storage tag")
    except RecordError as exc:
        raise ValueError(str(exc)) from None
    return value


Duration = Annotated[float, BeforeValidator(_duration)]
"""Seconds, written ``"500ms"``, ``"30s"``, ``"15m"``, ``"1h"``, ``"1d"`` or as a number."""
Instant = Annotated[datetime, BeforeValidator(_instant)]
"""A timezone-aware instant."""
Port = Annotated[int, Field(ge=1, le=65535)]
"""A TCP port a client connects to."""
Number = Annotated[float, Field(allow_inf_nan=False)]
TagText = Annotated[str, AfterValidator(_tag)]
"""Text that becomes a storage tag (meter id, channel, transformer, building, household)."""

"""``ConfigError``, and how a pydantic ``ValidationError`` becomes one.

pydantic names a place as a tuple (``("meters", 3, "address")``) with a message written for
programmers; an engineer at a site needs ``fleet.toml: meters[3].address (meter 0001): expected
the 12-digit meter address, got '12345'``. The translation keeps pydantic's place and error
type and writes the problem in the words the fleet file's docs use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headend.errors import HeadendError
from protocols.file_schema import Loc, key_text
from protocols.file_schema import describe as describe_any_file

if TYPE_CHECKING:
    # Not imported at run time: the CLI imports ConfigError before it knows whether the
    # command loads a fleet file at all (``headend read`` does not, and starts without pydantic).
    from pydantic import ValidationError
    from pydantic_core import ErrorDetails


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


class KeyProblem(HeadendError, ValueError):
    """Raised by a model's own check to blame one of its keys rather than the whole table
    (``[clock] speed`` without ``start``): the translation appends ``key`` to the place, a
    dotted text or the parts themselves."""

    def __init__(self, key: str | Loc, problem: str) -> None:
        super().__init__(problem)
        self.key = key


PATTERN_PROBLEMS: dict[str, str] = {}
"""Regular expression of a ``Field(pattern=...)`` -> the problem to report; ``{input!r}`` in
it is replaced by the value (left out where the value is a secret, such as a password)."""


def from_validation_error(
    source: str, error: ValidationError, document: Any, *, prefix: Loc = ()
) -> ConfigError:
    """The first problem pydantic found in ``document`` (the table at ``prefix``), as a
    ``ConfigError`` naming the file, the key and, inside ``[[meters]]``, the meter."""
    errors = error.errors(include_url=False)
    details = errors[0]
    loc = (*prefix, *_key_path(document, details))
    problem = describe(details)
    if details["type"] == "missing":
        # Several keys missing from one table (a voltage band written half): name the table.
        parent = details["loc"][:-1]
        missing = [
            str(e["loc"][-1]) for e in errors if e["type"] == "missing" and e["loc"][:-1] == parent
        ]
        if len(missing) > 1:
            loc, problem = loc[:-1], f"missing keys {', '.join(missing)}"
    cause = (details.get("ctx") or {}).get("error")
    key = getattr(cause, "key", None)
    if isinstance(key, str):
        key = tuple(int(part) if part.isdigit() else part for part in key.split("."))
    if isinstance(key, tuple):
        loc = (*loc, *key)
    if details["type"] == "union_tag_invalid":
        loc = (*loc, str(details["ctx"]["discriminator"]).strip("'"))
    meter = None
    if len(loc) >= 2 and loc[0] == "meters" and isinstance(loc[1], int) and not prefix:
        meter = meter_label(document["meters"][loc[1]])
    return ConfigError(source, key_text(loc), problem, meter=meter)


def _key_path(document: Any, details: ErrorDetails) -> Loc:
    """The keys of the file in pydantic's place, without the parts that are not keys (a union
    member's or a tag's name, ``[key]``): walked along the document itself."""
    loc = details["loc"]
    node = document
    path: list[str | int] = []
    for index, part in enumerate(loc):
        in_table = isinstance(node, Mapping) and part in node
        in_list = isinstance(node, list | tuple) and isinstance(part, int) and part < len(node)
        if in_table or in_list:
            node = node[part]
        elif index == len(loc) - 1 and details["type"] == "missing":
            pass  # the key that is not there
        else:
            continue
        path.append(part)
    return tuple(path)


def meter_label(table: object) -> str:
    """What to call a meter whose table failed to load: its id, else its address or unit."""
    if not isinstance(table, Mapping):
        return "(not a table)"
    for key in ("id", "address"):
        value = table.get(key)
        if isinstance(value, str) and value:
            return value
    channel, unit = table.get("channel"), table.get("unit_id")
    if isinstance(channel, str) and isinstance(unit, int):
        return f"{channel}:{unit}"
    return "(no id or address)"


def describe(details: ErrorDetails) -> str:
    """The problem in the fleet file's words: its own cases, then those every data file shares
    (``protocols.file_schema.describe``)."""
    kind = details["type"]
    ctx = details.get("ctx") or {}
    got = details.get("input")
    if kind == "unexpected_keyword_argument":
        return "unknown key (typo?)"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        # AnomalyConfigError keeps the problem apart from its key, which the place names.
        return str(getattr(ctx["error"], "problem", None) or ctx["error"])
    if kind in ("literal_error", "enum"):
        return f"expected one of {ctx['expected']}, got {got!r}"
    if kind == "union_tag_invalid":
        return f"expected one of {ctx['expected_tags']}, got {ctx['tag']!r}"
    if kind == "string_pattern_mismatch":
        problem = PATTERN_PROBLEMS.get(str(ctx["pattern"]))
        if problem is not None:
            return problem.replace("{input!r}", repr(got))
        return f"{got!r} does not match {ctx['pattern']}"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item(s)"
    if kind == "string_too_short" and ctx["min_length"] != 1:
        return str(details["msg"])
    return describe_any_file(details)

"""How a pydantic ``ValidationError`` about a data file becomes the file's words.

Register maps (``protocols.modbus``) and scenario files (``simulators``) are TOML that people
write, checked by pydantic models. pydantic names a place as a tuple (``("points", 3,
"address")``) in words written for programmers; whoever wrote the file needs
``points[3].address: must be <= 65535, got 70000``. Here, below both users, so that the two
read alike (the head-end's fleet file adds its own cases on top, in ``headend.config.errors``).
Imports nothing of pydantic at run time: a caller imports this only once it has an error.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

Loc = tuple[str | int, ...]


def key_text(loc: Loc) -> str:
    """``("points", 3, "address")`` -> ``points[3].address``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def key_path(details: ErrorDetails) -> Loc:
    """pydantic's place without the parts that are not keys of the file (a dict key's ``[key]``)."""
    return tuple(part for part in details["loc"] if part != "[key]")


_EXPECTED = {
    "string_type": "text",
    "float_type": "a number",
    "int_type": "an integer",
    "bool_type": "true/false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "dataclass_type": "a table",
    "finite_number": "a finite number",
    "datetime_type": "a date-time",
    "date_type": "a date (YYYY-MM-DD)",
}
_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


def describe(details: ErrorDetails) -> str:
    """The problem in the words of the file's docs rather than pydantic's."""
    kind = details["type"]
    ctx = details.get("ctx") or {}
    got = details.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown key (typo?)"
    if kind in _EXPECTED:
        if kind == "float_type" and isinstance(got, float) and not math.isfinite(got):
            return f"expected a finite number, got {got!r}"
        return f"expected {_EXPECTED[kind]}, got {got!r}"
    if kind in _BOUNDS:
        sign, name = _BOUNDS[kind]
        return f"must be {sign} {ctx[name]}, got {got!r}"
    if kind in ("enum", "literal_error"):
        return f"unknown value {got!r} (expected one of {ctx['expected']})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    return str(details["msg"])

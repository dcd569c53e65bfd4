"""The schema names a Flux query refers to, found with patterns rather than a Flux parser.

Dashboards are written in a small, regular subset of Flux (``r.key == "literal"``,
``group(columns: [...])``, ``tag: "..."``). Anything outside that subset for the keys that matter
(measurement, field, quantity) is reported as unparsed, so a query cannot dodge the check by
being written differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COLUMN = re.compile(r"\br\.([A-Za-z_]\w*)|\br\[\"([^\"]+)\"\]")
_STRING_LIST = re.compile(r"\bcolumns:\s*\[([^\]]*)\]")
_QUOTED = re.compile(r"\"([^\"]*)\"")
_TAG_ARGUMENT = re.compile(r"\btag:\s*\"([^\"]+)\"")
_CHECKED_KEYS = ("_measurement", "_field", "quantity")


class UnparsedQuery(ValueError):
    """A query uses a form the dashboard checks cannot follow; rewrite it in the subset."""


@dataclass(frozen=True, slots=True)
class FluxRefs:
    measurements: frozenset[str]
    fields: frozenset[str]
    quantities: frozenset[str]
    columns: frozenset[str]
    """Every ``r.name`` / ``r["name"]`` and every name in ``columns: [...]`` or ``tag: "..."``."""


def _equals_literal(key: str) -> re.Pattern[str]:
    return re.compile(rf"\br(?:\.{key}\b|\[\"{key}\"\])\s*==\s*\"([^\"]*)\"")


def _any_reference(key: str) -> re.Pattern[str]:
    return re.compile(rf"\br(?:\.{key}\b|\[\"{key}\"\])")


def flux_refs(query: str) -> FluxRefs:
    """Collect the names ``query`` uses; raises UnparsedQuery outside the supported subset."""
    found: dict[str, frozenset[str]] = {}
    for key in _CHECKED_KEYS:
        literals = _equals_literal(key).findall(query)
        references = _any_reference(key).findall(query)
        if len(literals) != len(references):
            raise UnparsedQuery(
                f'r.{key} is used {len(references)} times but compared with == "literal" only '
                f"{len(literals)} times in query:\n{query}"
            )
        found[key] = frozenset(literals)
    columns = {a or b for a, b in _COLUMN.findall(query)}
    for listed in _STRING_LIST.findall(query):
        columns.update(_QUOTED.findall(listed))
    columns.update(_TAG_ARGUMENT.findall(query))
    return FluxRefs(
        measurements=found["_measurement"],
        fields=found["_field"],
        quantities=found["quantity"],
        columns=frozenset(columns),
    )

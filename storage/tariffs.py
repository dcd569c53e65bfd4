"""Tariff numbers and the names a site gives them (尖/峰/平/谷), for what a user reads.

Why here: a meter only numbers its tariffs (``energy_active_import_t1``...); which number is
尖 sharp or 谷 valley is the site's (``[site] tariff_names``, docs/configuration.md). The
stores keep the numbers; billing output adds the name beside them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

TARIFF_NAMES: Final = ("sharp", "peak", "flat", "valley", "deep_valley")
"""尖, 峰, 平, 谷, 深谷: the names a tariff may be given."""
MAX_TARIFF: Final = 63
"""DL/T 645-2007 numbers tariffs 1..63 in the DI's third byte."""
DEFAULT_TARIFF_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {1: "sharp", 2: "peak", 3: "flat", 4: "valley"}
)
"""The usual State Grid assignment (docs/dlt645.md "Tariff names")."""
_TARIFF_SUFFIX: Final = re.compile(r"_t([1-9][0-9]?)(?:_time)?$")


def tariff_of(quantity: str) -> int | None:
    """The tariff number of a ``_tN`` quantity (or of its maximum demand's ``_tN_time``),
    None for totals and everything else."""
    match = _TARIFF_SUFFIX.search(quantity)
    return int(match.group(1)) if match else None


def tariff_name(quantity: str, names: Mapping[int, str]) -> str:
    """The site's name for ``quantity``'s tariff, "" when it has none or is not a tariff."""
    number = tariff_of(quantity)
    return "" if number is None else names.get(number, "")

"""Which quantities are of a tariff, and the name a site gives it."""

from __future__ import annotations

import pytest

from storage.tariffs import DEFAULT_TARIFF_NAMES, tariff_name, tariff_of


@pytest.mark.parametrize(
    ("quantity", "number"),
    [
        ("energy_active_import_t1", 1),
        ("energy_reactive_q1_t14", 14),
        ("settlement_energy_active_import_t3", 3),
        ("demand_max_active_import_t2_time", 2),
        ("energy_active_import_total", None),
        ("voltage_a", None),
        ("energy_active_import_t0", None),
        ("energy_active_import_t", None),
    ],
)
def test_tariff_of_reads_the_tariff_suffix(quantity: str, number: int | None) -> None:
    assert tariff_of(quantity) == number


def test_tariff_name_is_the_sites_or_empty() -> None:
    assert tariff_name("energy_active_import_t4", DEFAULT_TARIFF_NAMES) == "valley"
    assert tariff_name("energy_active_import_t5", DEFAULT_TARIFF_NAMES) == ""
    assert tariff_name("energy_active_import_total", DEFAULT_TARIFF_NAMES) == ""
    assert tariff_name("energy_active_import_t5", {5: "deep_valley"}) == "deep_valley"

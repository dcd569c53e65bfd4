"""``/metrics`` families of the OCPP central: refusals by kind, orders by answer."""

from __future__ import annotations

from collections import Counter

from headend.api.metrics import ocpp_families, render


def test_refusals_and_answers_are_counted_by_label() -> None:
    text = render(
        ocpp_families(
            Counter({"unknown_charger": 2, "bad_frame": 1}),
            Counter({"Accepted": 5, "Rejected": 1}),
        )
    )
    assert 'headend_ocpp_refused_total{kind="unknown_charger"} 2.0' in text
    assert 'headend_ocpp_refused_total{kind="bad_frame"} 1.0' in text
    assert 'headend_ocpp_orders_total{answer="Rejected"} 1.0' in text
    assert 'headend_ocpp_orders_total{answer="Accepted"} 5.0' in text

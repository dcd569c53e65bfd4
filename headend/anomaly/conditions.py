"""The hand-over between stateless rules and the stateful tracker.

A rule result is two masks over the subjects plus the value judged: ``raised`` where the value
is beyond the raise threshold, ``held`` where it is still beyond the (laxer) clear threshold.
The gap between the two is the hysteresis band.
"""

from __future__ import annotations

from dataclasses import dataclass

from headend.anomaly.events import AnomalyKind, SubjectKind
from headend.anomaly.grouping import BoolArray, FloatArray
from storage.records import Severity


@dataclass(frozen=True, slots=True)
class ConditionSpec:
    """What a condition is, independent of any sweep: one tracker per spec."""

    kind: AnomalyKind
    subject: SubjectKind
    severity: Severity
    unit: str
    """'ratio' values are fractions (0.8 = 80 %) and are shown as percentages."""
    higher_is_worse: bool
    update_step: float
    """Report an update when the peak worsens by at least this much since the last report."""
    description: str
    value_labels: tuple[str, ...] = ()
    """When set, the value is a code and these are its names (failure reasons)."""

    def format_value(self, value: float) -> str:
        if self.value_labels and value == value and 0 <= int(value) < len(self.value_labels):
            return self.value_labels[int(value)]
        if self.unit == "ratio":
            return f"{value * 100:.1f} %"
        return f"{value:.4g} {self.unit}".rstrip()


@dataclass(frozen=True, slots=True)
class Condition:
    """One rule's verdict for every subject in one sweep."""

    spec: ConditionSpec
    raised: BoolArray
    held: BoolArray
    value: FloatArray

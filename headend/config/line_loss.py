"""``[line_loss]``: the site's thresholds for the transformer areas' daily line loss.

Why in the fleet file: the threshold is a site's policy (an old area of long cables runs
higher than a new one), as the anomaly thresholds are. docs/line-loss.md describes the keys;
every key has a default, so a fleet without the table gets ``storage.area.line_loss``'s.
"""

from __future__ import annotations

from pydantic import Field

from headend.config.fields import FileModel
from storage.area.line_loss import DEFAULT_LIMITS, LineLossLimits


class LineLossTable(FileModel):
    threshold_percent: float = Field(default=DEFAULT_LIMITS.threshold_percent, gt=0, le=100)
    negative_tolerance_percent: float = Field(
        default=DEFAULT_LIMITS.negative_tolerance_percent, ge=0, le=100
    )
    drop_share: float = Field(default=DEFAULT_LIMITS.drop_share, gt=0, lt=1)
    spike_factor: float = Field(default=DEFAULT_LIMITS.spike_factor, gt=1)
    floor_kwh: float = Field(default=DEFAULT_LIMITS.floor_kwh, ge=0)
    history_min_days: int = Field(default=DEFAULT_LIMITS.history_min_days, ge=1, le=30)


def line_loss_limits(table: LineLossTable) -> LineLossLimits:
    return LineLossLimits(**table.model_dump())

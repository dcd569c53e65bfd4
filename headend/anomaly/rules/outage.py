"""Who lost supply and who merely lost contact, from failure reasons and zero voltage.

A meter that does not answer at all may be dead or unpowered; one that answers garbage
(checksum, malformed, wrong address, error reply) is clearly powered and the line is at fault;
a lost connection to the gateway or concentrator is the channel, not the meter. Many meters of
one transformer silent or at zero volts together is one transformer outage, and the meter
events under it are suppressed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from headend.anomaly.fleet import failure_code
from headend.anomaly.grouping import BoolArray, FloatArray, Grouping


@dataclass(frozen=True, slots=True)
class FailureMasks:
    """Which meters failed how, from the reason code of their last read."""

    silent: BoolArray
    """Nobody answered: meter unpowered, dead, or unreachable."""
    link: BoolArray
    """The channel (DTU, concentrator, gateway connection) is down."""
    garbled: BoolArray
    """Something answered badly: the meter is alive, the line or its firmware is not."""


def reason_codes(reasons: Iterable[str]) -> tuple[int, ...]:
    """Failure codes of the named reasons (unknown names map to the shared 'other' code)."""
    return tuple(sorted({failure_code(reason) for reason in reasons}))


def classify(
    codes: npt.NDArray[np.int8], silent_codes: tuple[int, ...], link_codes: tuple[int, ...]
) -> FailureMasks:
    """Split failed meters into silent, link-down and garbled; anything else failed is garbled.

    A few equality tests over int8 codes are cheaper than a lookup-table gather.
    """
    silent = _any_of(codes, silent_codes)
    link = _any_of(codes, link_codes)
    garbled = (codes != 0) & ~silent & ~link
    return FailureMasks(silent, link, garbled)


def _any_of(codes: npt.NDArray[np.int8], wanted: tuple[int, ...]) -> BoolArray:
    mask = np.zeros(codes.shape, dtype=np.bool_)
    for code in wanted:
        mask |= codes == code
    return mask


def group_share(
    mask: BoolArray, grouping: Grouping, min_members: float
) -> tuple[FloatArray, BoolArray]:
    """Share of each group with ``mask`` set, and whether the group has enough such members."""
    count = grouping.count(mask)
    share = np.divide(
        count.astype(np.float64),
        grouping.counts,
        out=np.zeros(grouping.size),
        where=grouping.counts > 0,
    )
    return share, count >= min_members

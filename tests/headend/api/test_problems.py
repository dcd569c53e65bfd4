"""Which HTTP status a failed meter request becomes: timeout 504, peer error 502, cannot 409."""

from __future__ import annotations

import pytest

from headend.api.problems import read_failed_status
from headend.errors import ReadFailed
from storage.records import FailureReason


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        (FailureReason.TIMEOUT, 504),
        (FailureReason.ERROR_RESPONSE, 502),
        (FailureReason.CHECKSUM, 502),
        (FailureReason.CONNECTION_LOST, 502),
        (FailureReason.UNSUPPORTED, 409),
    ],
)
def test_read_failures_map_to_gateway_statuses(reason: FailureReason, status: int) -> None:
    assert read_failed_status(ReadFailed(reason, "detail")) == status

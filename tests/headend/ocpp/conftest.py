"""Fixtures: the curb rig (tests/headend/ocpp/rig.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.headend.ocpp.rig import Rig, running_rig


@pytest.fixture
async def curb_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with running_rig(tmp_path) as rig:
        yield rig

"""``headend export handoff --day``: one day handed off by hand into the ledger the service
uses; again, only what changed; a day not frozen yet or a file without ``[handoff]`` is exit 2."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from headend.cli import main
from storage.embedded import SqliteStore
from storage.handoff.ledger import LEDGER_FILE, HandoffLedger
from storage.records import Quality, Reading, ReadingKind
from tests.support.fleet_text import one_meter_fleet

FREEZE = datetime(2026, 7, 17, 16, 0, tzinfo=UTC)  # 2026-07-18 00:00 in Shanghai
METER = "000000000001"


def store_values(data_dir: Path, *readings: Reading) -> None:
    async def write() -> None:
        store = await SqliteStore.open(data_dir / "headend.sqlite")
        try:
            await store.write(list(readings))
        finally:
            await store.aclose()

    asyncio.run(write())


def frozen(value: float, quality: Quality) -> Reading:
    return Reading(METER, "energy_active_import_total", value, "kWh", FREEZE, ReadingKind.FROZEN,
                   quality)  # fmt: skip


def test_a_day_by_hand_then_only_what_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "out"
    config = tmp_path / "fleet.toml"
    config.write_text(one_meter_fleet() + f'\n[handoff]\nfolder = "{folder}"\n', encoding="utf-8")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store_values(data_dir, frozen(120.5, Quality.ESTIMATED))
    args = ["export", "handoff", "--config", str(config), "--data-dir", str(data_dir)]
    assert main([*args, "--day", "2026-07-18"]) == 0
    assert "#0 (daily): 1 reads" in capsys.readouterr().out
    assert main([*args, "--day", "2026-07-18"]) == 0
    assert "nothing changed" in capsys.readouterr().out
    store_values(data_dir, frozen(121.0, Quality.ACTUAL))
    assert main([*args, "--day", "2026-07-18"]) == 0
    assert "#1 (correction): 1 reads" in capsys.readouterr().out
    lines = (folder / "settlement-2026-07-18-01.csv").read_text(encoding="utf-8").splitlines()
    assert lines[1].endswith(",121.0,kWh,actual,daily_freeze,000000000001,,,")
    with HandoffLedger.open(data_dir / LEDGER_FILE) as ledger:
        assert [h.sequence for h in ledger.handoffs()] == [0, 1]
    assert main([*args, "--day", "2099-01-01"]) == 2
    assert "--day: day 2099-01-01 is after today" in capsys.readouterr().err


def test_a_fleet_file_without_handoff_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(one_meter_fleet(), encoding="utf-8")
    code = main(["export", "handoff", "--config", str(config), "--day", "2026-07-18"])
    assert code == 2
    assert "handoff: no [handoff] table" in capsys.readouterr().err

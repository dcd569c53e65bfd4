"""``headend archive exchange``: the crew's reads recorded, the new meter inheriting the old
one's place, and bad reads or times refused with exit 2, nothing recorded."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from headend.cli import main
from headend.commands.audit import AUDIT_FILE
from storage.archive.records import ArchiveMeter
from storage.archive.store import ARCHIVE_FILE, ArchiveStore

OLD = ArchiveMeter("m1", "000000000001", account="A-1", transformer="T1", building="B1")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    with ArchiveStore.open(tmp_path / ARCHIVE_FILE) as store:
        store.import_meters([OLD])
    return tmp_path


def exchange(data_dir: Path, *extra: str) -> int:
    return main(["archive", "exchange", "m1", "m2", "--data-dir", str(data_dir), *extra])


def test_an_exchange_is_recorded_with_the_crews_reads(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = exchange(
        data_dir,
        "--at",
        "2026-06-20T10:30+08:00",
        "--old-final",
        "1234.5",
        "--old-final",
        "t1=200.25",
        "--new-initial",
        "total=0.5",
        "--new-address",
        "000000000199",
        "--reason",
        "display fault",
    )
    assert code == 0
    assert "exchange recorded: m1 -> m2" in capsys.readouterr().out
    with ArchiveStore.open(data_dir / ARCHIVE_FILE) as store:
        (recorded,) = store.exchanges()
        new = store.meter("m2")
        old = store.meter("m1")
    assert dict(recorded.old_final) == {
        "energy_active_import_total": 1234.5,
        "energy_active_import_t1": 200.25,
    }
    assert dict(recorded.new_initial) == {"energy_active_import_total": 0.5}
    assert recorded.reason == "display fault"
    assert new is not None
    assert old is not None
    assert (new.address, new.account, new.transformer, new.installed) == (
        "000000000199",
        "A-1",
        "T1",
        date(2026, 6, 20),
    )
    assert old.removed == date(2026, 6, 20)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--at", "2026-06-20T10:30", "--old-final", "1", "--new-initial", "0"], "UTC offset"),
        (["--at", "2026-06-20T10:30+08:00", "--old-final", "t1=x", "--new-initial", "0"], "'x'"),
        (
            ["--at", "2026-06-20T10:30+08:00", "--old-final", "t1=3", "--new-initial", "0"],
            "total import read is required",
        ),
        (["--at", "2026-06-20T10:30+08:00", "--old-final", "1", "--new-initial", "0"], "m2"),
    ],
)
def test_a_bad_exchange_exits_2_and_records_nothing(
    data_dir: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert exchange(data_dir, *extra) == 2
    assert message in capsys.readouterr().err
    with ArchiveStore.open(data_dir / ARCHIVE_FILE) as store:
        assert store.exchanges() == []


def test_the_cli_audits_an_exchange_and_an_import_as_the_api_does(
    data_dir: Path, tmp_path: Path
) -> None:
    """The same trail as ``/api/archive``: an intent on disk, then its outcome."""
    code = exchange(
        data_dir, "--at", "2026-06-20T10:30+08:00", "--old-final", "9", "--new-initial", "0"
    )
    assert code == 2  # m2 unknown and no address: refused, and the refusal audited
    sheet = tmp_path / "office.csv"
    sheet.write_text("id,address\nm1,000000000001\nm3,000000000003\n")
    assert main(["archive", "import", str(sheet), "--data-dir", str(data_dir)]) == 0
    entries = [json.loads(line) for line in (data_dir / AUDIT_FILE).read_text().splitlines()]
    assert [(e["command"], e["outcome"]) for e in entries] == [
        ("meter exchange", "intent"),
        ("meter exchange", "refused"),
        ("archive import", "intent"),
        ("archive import", "ok"),
    ]
    assert entries[0]["user"].startswith("cli")
    assert entries[3]["ref"] == entries[2]["id"]
    assert entries[2]["data"]["added"] == 1

"""Archive spreadsheets: export then import gives the same meters (CSV and XLSX), and a bad
cell is named by row and column with nothing imported."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from headend.cli import main
from storage.archive.records import ArchiveMeter, MeterRole
from storage.archive.sheet import meters_of_rows, read_meters, rows_of_bytes, write_meters
from storage.archive.store import ArchiveStore
from storage.errors import ArchiveImportError

METERS = [
    ArchiveMeter(
        id="m1",
        address="000000000001",
        account="0012",
        transformer="T1",
        installed=date(2026, 1, 5),
    ),
    ArchiveMeter(id="m2", address="000000000002", kind=MeterRole.EV_PILE, ct_ratio=40.0, pn=3),
]


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_export_then_import_gives_the_same_meters(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"archive.{suffix}"
    assert write_meters(path, METERS) == 2
    assert read_meters(path) == METERS


def test_a_bad_row_names_row_and_column_and_the_cli_imports_nothing(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    write_meters(good, METERS)
    assert main(["archive", "import", str(good), "--data-dir", str(tmp_path)]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("id,address,kind\nm1,000000000001,household\nm9,000000000009,factory\n")
    with pytest.raises(ArchiveImportError, match="row 3, column kind: 'factory'"):
        read_meters(bad)
    assert main(["archive", "import", str(bad), "--data-dir", str(tmp_path)]) == 2
    with ArchiveStore.open(tmp_path / "archive.sqlite") as store:
        assert store.meters() == METERS


@pytest.mark.parametrize(
    ("data", "cells", "named"),
    [
        (b"id,address\nm1,000000000001\nm2,\xff12\n", [(3, None)], "row 3: not UTF-8 text"),
        (b"id,address\nm1," + b"9" * 200_000 + b"\n", [(2, None)], "row 2: not CSV: field larger"),
        (b"id,adress\n", [(1, "adress"), (1, None)], "row 1, column adress: not an archive"),
        (b"id,address,pn\nm1,1,x\nm1,2,\n", [(2, "pn"), (3, "id")], "m1 already given in row 2"),
    ],
)
def test_an_upload_that_cannot_be_read_names_the_row_with_its_place(
    data: bytes, cells: list[tuple[int, str | None]], named: str
) -> None:
    with pytest.raises(ArchiveImportError) as caught:
        meters_of_rows(rows_of_bytes(data, "csv", "upload.csv"), "upload.csv")
    assert caught.value.cells == cells
    assert named in str(caught.value)

"""`headend run` on a store file it must not change stops at start with one clear line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from headend.cli import main
from storage.embedded_schema import SCHEMA_VERSION
from tests.support.fleet_text import one_meter_fleet


def test_a_store_file_of_a_newer_version_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A head-end started on a file a newer head-end wrote (after a downgrade) must not change
    it: it stops at start, naming the file and both versions."""
    store = tmp_path / "store.sqlite"
    with sqlite3.connect(store) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    config = tmp_path / "fleet.toml"
    config.write_text(
        one_meter_fleet()
        + f'\n[storage]\nkind = "embedded"\npath = "{store}"\n\n[api]\nlisten = "127.0.0.1:0"\n'
    )
    code = main(["run", "--config", str(config), "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 5
    assert f"store.sqlite: store version {SCHEMA_VERSION + 1} is newer than this head-end's" in err
    assert "Traceback" not in err
    with sqlite3.connect(store) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION + 1,)

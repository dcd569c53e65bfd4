"""The learned block-read support survives a restart, and a broken file is named, not fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headend.collection.block_support_file import open_book
from headend.drivers.block_support import BlockSupport

REFUSED = BlockSupport(False, "refused with error word 0x02")


def test_what_a_meter_refused_is_read_back_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data" / "block-reads.json"
    book = open_book(path)
    book.learn("m1", "0201FF00", REFUSED)
    book.learn("m1", "0001FF00", BlockSupport(True))
    again = open_book(path)
    assert again.of_meter("m1") == {"0201FF00": REFUSED, "0001FF00": BlockSupport(True)}
    assert again.refused("m1") == {"0201FF00"}
    assert again.refused("m2") == set()


def test_a_forgotten_meter_is_gone_from_the_file_too(tmp_path: Path) -> None:
    path = tmp_path / "block-reads.json"
    book = open_book(path)
    book.learn("m1", "0201FF00", REFUSED)
    book.learn("m2", "0201FF00", REFUSED)
    book.forget("m1")
    assert book.refused("m1") == set()
    again = open_book(path)
    assert again.of_meter("m1") == {}
    assert again.of_meter("m2") == {"0201FF00": REFUSED}


def test_learning_what_is_already_known_does_not_rewrite_the_file(tmp_path: Path) -> None:
    path = tmp_path / "block-reads.json"
    book = open_book(path)
    book.learn("m1", "0201FF00", REFUSED)
    path.write_text(path.read_text() + " ")  # marks the file: a rewrite would drop it
    book.learn("m1", "0201FF00", REFUSED)
    assert path.read_text().endswith(" ")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("{not json", "block-reads.json"),
        (json.dumps({"version": 9, "meters": {}}), "expected version 1"),
        (
            json.dumps({"version": 1, "meters": {"m1": {"0201FF00": {"supported": "no"}}}}),
            "meters.m1.0201FF00",
        ),
    ],
)
def test_a_file_that_cannot_be_read_is_named_and_learning_starts_again(
    tmp_path: Path, text: str, named: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "block-reads.json"
    path.write_text(text)
    book = open_book(path)
    assert book.of_meter("m1") == {}
    assert str(path) in caplog.text
    assert named in caplog.text
    book.learn("m1", "0201FF00", REFUSED)  # and the next thing learned replaces the file
    assert open_book(path).of_meter("m1") == {"0201FF00": REFUSED}

"""The learned block-read refusals survive a restart, a broken file is named, not fatal, and
saving neither blocks the event loop nor fails a read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from headend.collection import block_support_file
from headend.collection.block_support_file import CoalescedSave, open_book
from headend.drivers.block_support import BlockSupport

REFUSED = BlockSupport(False, "refused with error word 0x02")


def test_what_a_meter_refused_is_read_back_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data" / "block-reads.json"
    book, _ = open_book(path)
    book.learn("m1", "0201FF00", REFUSED)
    book.learn("m1", "0001FF00", BlockSupport(True))
    assert book.of_meter("m1") == {"0201FF00": REFUSED, "0001FF00": BlockSupport(True)}
    again, _ = open_book(path)  # a block answered needs no memory: only the refusal is kept
    assert again.of_meter("m1") == {"0201FF00": REFUSED}
    assert again.refused("m1") == {"0201FF00"}
    assert again.refused("m2") == set()


def test_a_forgotten_meter_is_gone_from_the_file_too(tmp_path: Path) -> None:
    path = tmp_path / "block-reads.json"
    book, _ = open_book(path)
    book.learn("m1", "0201FF00", REFUSED)
    book.learn("m2", "0201FF00", REFUSED)
    book.forget("m1")
    assert book.refused("m1") == set()
    again, _ = open_book(path)
    assert again.of_meter("m1") == {}
    assert again.of_meter("m2") == {"0201FF00": REFUSED}


def test_learning_what_is_already_known_does_not_rewrite_the_file(tmp_path: Path) -> None:
    path = tmp_path / "block-reads.json"
    book, _ = open_book(path)
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
    book, _ = open_book(path)
    assert book.of_meter("m1") == {}
    assert str(path) in caplog.text
    assert named in caplog.text
    book.learn("m1", "0201FF00", REFUSED)  # and the next thing learned replaces the file
    assert open_book(path)[0].of_meter("m1") == {"0201FF00": REFUSED}


async def test_a_first_round_of_refusals_is_written_once_off_the_loop_and_at_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "block-reads.json"
    writes: list[int] = []
    real_save = block_support_file.save

    def counting_save(where: Path, entries: Any) -> None:
        writes.append(len(entries))
        real_save(where, entries)

    monkeypatch.setattr(block_support_file, "save", counting_save)
    book, saver = open_book(path)
    assert saver is not None
    for index in range(500):
        book.learn(f"m{index}", "0201FF00", REFUSED)
        book.learn(f"m{index}", "0001FF00", BlockSupport(True))
    assert writes == []  # nothing written on the loop while the meters teach the book
    await saver.aclose()
    assert writes == [500]
    assert len(open_book(path)[0].entries()) == 500


async def test_a_save_that_fails_is_logged_and_counted_and_the_book_keeps_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the data dir should be")
    saver = CoalescedSave(blocked / "block-reads.json", interval=0.0)
    book, _ = open_book(None)
    book = type(book)(save=saver)
    book.learn("m1", "0201FF00", REFUSED)
    await saver.aclose()
    assert saver.failures == 1
    assert "not-a-dir" in caplog.text
    assert book.refused("m1") == {"0201FF00"}

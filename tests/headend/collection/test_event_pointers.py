"""How far each concentrator's event rings were read, kept in the data dir: the move rule round
the 256-record ring, the file across instances (a restart), and bad files and failed writes."""

from __future__ import annotations

import json
from pathlib import Path

from headend.collection.event_pointers import EventPointers

KEY = "4403-00012"


def test_a_pointer_moves_over_a_range_that_covers_it_round_the_ring() -> None:
    pointers = EventPointers()
    assert pointers.get(KEY, 1) == 0
    assert pointers.advance(KEY, 1, 0, 3)  # a read after login: 0, 1, 2
    assert pointers.get(KEY, 1) == 3
    assert pointers.advance(KEY, 1, 3, 4)  # a push that continues: 3
    assert not pointers.advance(KEY, 1, 1, 2)  # a repeat behind the pointer
    assert not pointers.advance(KEY, 1, 6, 7)  # a push past a gap (4, 5 not read yet)
    assert pointers.get(KEY, 1) == 4
    assert pointers.advance(KEY, 1, 2, 7)  # the read after the next login covers it
    assert pointers.get(KEY, 1) == 7
    assert pointers.get(KEY, 2) == 0  # the other ring is its own


def test_a_read_across_the_wrap_ends_past_record_255() -> None:
    pointers = EventPointers()
    assert pointers.advance(KEY, 2, 0, 250)
    assert pointers.advance(KEY, 2, 250, 4)  # 250..255, then 0..3
    assert pointers.get(KEY, 2) == 4
    assert not pointers.advance(KEY, 2, 4, 4)  # an empty range moves nothing


def test_pointers_survive_a_restart_in_their_file(tmp_path: Path) -> None:
    path = tmp_path / "terminal-events.json"
    first = EventPointers(path)
    first.advance(KEY, 1, 0, 2)
    first.advance(KEY, 2, 0, 1)
    first.advance("4403-00013", 1, 0, 9)
    document = json.loads(path.read_text())
    assert document == {
        "version": 1,
        "terminals": {"4403-00012": {"1": 2, "2": 1}, "4403-00013": {"1": 9}},
    }
    again = EventPointers(path)
    assert again.items() == {(KEY, 1): 2, (KEY, 2): 1, ("4403-00013", 1): 9}
    assert again.unreadable == 0


def test_an_unreadable_file_is_counted_and_the_rings_are_read_again(tmp_path: Path) -> None:
    path = tmp_path / "terminal-events.json"
    for text in (
        "{not json",
        '{"version": 1, "terminals": {"4403-00012": {"1": 300}}}',
        '{"version": 1, "terminals": {"4403-00012": {"3": 1}}}',
        '{"version": 2, "terminals": {}}',
    ):
        path.write_text(text)
        pointers = EventPointers(path)
        assert pointers.unreadable == 1, text
        assert pointers.items() == {}, text  # from record 0: repeats, never a skipped record
    pointers.advance(KEY, 1, 0, 1)  # and the next move writes a good file
    assert EventPointers(path).items() == {(KEY, 1): 1}


def test_a_write_that_fails_is_counted_and_the_pointer_kept_in_memory(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    pointers = EventPointers(blocked / "terminal-events.json")  # its directory is a file
    assert pointers.advance(KEY, 1, 0, 5)
    assert pointers.write_failures == 1
    assert pointers.get(KEY, 1) == 5

"""Frames copied from public sources: one TOML file per source, loaded for the codec tests.

A file holds its source's citation and the frames exactly as the source prints them, request
and reply (in the manner of dlms-cosem's literal meter bytes both ways), with the values the
source says they carry. Keeping them as data, apart from the checks, lets a reader compare
each file with its page, and lets a new source be one new file. Layout::

    [source]
    url = "https://..."        # required
    title = "..."              # optional, like author, date, via (list of URLs), note

    [[exchanges]]
    name = "import-total"      # unique in the file; the test id
    request = "68 61 ... 16"   # hex as printed; at least one of request and reply
    reply = "68 61 ... 16"
    di = 0x00010000            # every other key: a value the source states
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

_T = TypeVar("_T")

_SOURCE_KEYS = {"url", "title", "author", "date", "via", "note"}
_FRAME_KEYS = ("request", "reply")


class FrameFileError(ValueError):
    """A frames file is unreadable or incomplete; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Citation:
    url: str
    title: str | None = None
    author: str | None = None
    date: str | None = None
    via: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True, slots=True)
class PublishedFrame:
    direction: str
    """``request`` (master to meter) or ``reply``."""
    text: str
    """The frame as the source prints it."""
    wire: bytes


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and its reply as a source shows them (either may be missing there)."""

    where: str
    """``file.toml: exchanges[i] (name)``, for messages."""
    name: str
    request: PublishedFrame | None
    reply: PublishedFrame | None
    stated: Mapping[str, Any]
    """What the source says the frames carry (address, identifier, value ...)."""
    note: str | None = None

    @property
    def frames(self) -> tuple[PublishedFrame, ...]:
        return tuple(frame for frame in (self.request, self.reply) if frame is not None)

    def text(self, key: str) -> str:
        return self._get(key, str)

    def integer(self, key: str) -> int:
        return self._get(key, int)

    def number(self, key: str) -> int | float:
        """An int or a float as written: an int stated is compared exactly."""
        return self._get(key, int, float)

    def integers(self, key: str) -> list[int]:
        value: list[object] = self._get(key, list)
        if not all(isinstance(item, int) and not isinstance(item, bool) for item in value):
            raise FrameFileError(f"{self.where}: {key}: expected a list of integers")
        return [item for item in value if isinstance(item, int)]

    def _get(self, key: str, *kinds: type[_T]) -> _T:
        if key not in self.stated:
            raise FrameFileError(f"{self.where}: no {key!r} stated")
        value = self.stated[key]
        if isinstance(value, bool) or not isinstance(value, kinds):
            names = " or ".join(kind.__name__ for kind in kinds)
            raise FrameFileError(f"{self.where}: {key}: expected {names}, got {value!r}")
        return value


@dataclass(frozen=True, slots=True)
class FrameSource:
    path: Path
    citation: Citation
    exchanges: tuple[Exchange, ...]


def load_frame_sources(folder: Path) -> list[FrameSource]:
    """Every ``*.toml`` in ``folder``, by file name; an empty folder is an error, not a pass."""
    paths = sorted(folder.glob("*.toml"))
    if not paths:
        raise FrameFileError(f"{folder}: no frames files (*.toml)")
    return [load_frame_source(path) for path in paths]


def load_frame_source(path: Path) -> FrameSource:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FrameFileError(f"{path}: {exc}") from None
    source = document.get("source")
    if not isinstance(source, dict):
        raise FrameFileError(f"{path}: no [source] table (the citation)")
    citation = _citation(source, path.name)
    rows = document.get("exchanges")
    if not isinstance(rows, list) or not rows:
        raise FrameFileError(f"{path.name}: no [[exchanges]]")
    exchanges = [_exchange(row, f"{path.name}: exchanges[{i}]") for i, row in enumerate(rows)]
    names = [exchange.name for exchange in exchanges]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise FrameFileError(f"{path.name}: exchange names used twice: {duplicates}")
    return FrameSource(path, citation, tuple(exchanges))


def _citation(table: Mapping[str, Any], where: str) -> Citation:
    unknown = sorted(set(table) - _SOURCE_KEYS)
    if unknown:
        raise FrameFileError(f"{where}: [source]: unknown key(s) {unknown}")
    url = table.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise FrameFileError(f"{where}: [source] url: expected the source's http(s) address")
    texts = {key: table.get(key) for key in ("title", "author", "date", "note")}
    for key, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise FrameFileError(f"{where}: [source] {key}: expected a string")
    via = table.get("via", [])
    if not isinstance(via, list) or not all(isinstance(item, str) for item in via):
        raise FrameFileError(f"{where}: [source] via: expected a list of addresses")
    return Citation(url, texts["title"], texts["author"], texts["date"], tuple(via), texts["note"])


def _exchange(row: object, where: str) -> Exchange:
    if not isinstance(row, dict):
        raise FrameFileError(f"{where}: expected a table")
    name = row.get("name")
    if not isinstance(name, str) or not name:
        raise FrameFileError(f"{where}: name: expected a non-empty string")
    where = f"{where} ({name})"
    frames = {key: _frame(row[key], key, where) for key in _FRAME_KEYS if key in row}
    if not frames:
        raise FrameFileError(f"{where}: neither request nor reply")
    note = row.get("note")
    if note is not None and not isinstance(note, str):
        raise FrameFileError(f"{where}: note: expected a string")
    stated = {key: value for key, value in row.items() if key not in {"name", "note", *frames}}
    return Exchange(where, name, frames.get("request"), frames.get("reply"), stated, note)


def _frame(value: object, direction: str, where: str) -> PublishedFrame:
    if not isinstance(value, str):
        raise FrameFileError(f"{where}: {direction}: expected the frame as a hex string")
    try:
        wire = bytes.fromhex(value)
    except ValueError as exc:
        raise FrameFileError(f"{where}: {direction}: not hex bytes ({exc})") from None
    if not wire:
        raise FrameFileError(f"{where}: {direction}: empty frame")
    return PublishedFrame(direction, value, wire)

"""Fleet changes made at run time (API), kept in the data dir so a restart does not undo them.

The fleet TOML stays the operator's file; the head-end never rewrites it. Changes made through
the API go to an overlay file next to the store (``fleet-overlay.json``), written atomically
(temp file, fsync, rename, fsync of the directory), and are applied on top of the TOML at start.

Rule when the TOML changed: each overlay entry remembers the TOML's own entry for that meter id
as it was when the change was made (``base``; null when the TOML did not have the meter). At
start an overlay entry applies only while the TOML's entry still equals its base. Once someone
edits, adds or removes that meter in the TOML, the TOML wins: the API change is dropped, with a
warning, and the overlay forgets it. A change that no longer validates (its channel or plan was
removed from the TOML) is dropped the same way.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headend.config.fleet import MeterConfig
from headend.errors import HeadendError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_METER_FIELDS = {f.name: str(f.type) for f in dataclasses.fields(MeterConfig)}
_ACCEPTS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "str | None": (str, type(None)),
    "int | None": (int, type(None)),
    "float": (int, float),
}
"""JSON types each MeterConfig annotation accepts (a field of another type is not checked)."""


class OverlayError(HeadendError, ValueError):
    """The overlay file cannot be read; the message names the file and the entry.

    Not a ``RegistryError``: that one is a meter change that does not fit, with the meter and
    the key as fields; this is a file the head-end cannot start from (exit code 2, as a broken
    fleet TOML)."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, slots=True)
class OverlayEntry:
    meter_id: str
    meter: MeterConfig | None
    """The meter as the API left it; None when the API removed it."""
    base: MeterConfig | None
    """The TOML's entry for this id when the change was made."""


def meter_to_json(meter: MeterConfig | None) -> dict[str, Any] | None:
    return None if meter is None else dataclasses.asdict(meter)


def meter_from_json(data: object, where: str) -> MeterConfig | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise OverlayError(where, f"expected an object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(_METER_FIELDS))
    if unknown:
        raise OverlayError(where, f"unknown key {unknown[0]!r}")
    for key, value in data.items():
        accepted = _ACCEPTS.get(_METER_FIELDS[key])
        if accepted is not None and (not isinstance(value, accepted) or isinstance(value, bool)):
            raise OverlayError(f"{where}.{key}", f"expected {_METER_FIELDS[key]}, got {value!r}")
    try:
        return MeterConfig(**data)
    except TypeError as exc:
        raise OverlayError(where, str(exc)) from None


class FleetOverlay:
    """The overlay file: one entry per meter id changed through the API."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, OverlayEntry] = {}
        if path is not None and path.exists():
            self._entries = self._read(path)

    @staticmethod
    def _read(path: Path) -> dict[str, OverlayEntry]:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise OverlayError(str(path), f"cannot read fleet overlay: {exc}") from None
        if not isinstance(document, Mapping) or document.get("version") != FORMAT_VERSION:
            raise OverlayError(str(path), f"version: expected {FORMAT_VERSION}")
        meters = document.get("meters")
        if not isinstance(meters, Mapping):
            raise OverlayError(str(path), "meters: expected an object")
        entries = {}
        for meter_id, item in meters.items():
            where = f"{path}: meters.{meter_id}"
            if not isinstance(item, Mapping):
                raise OverlayError(where, "expected an object")
            entries[meter_id] = OverlayEntry(
                meter_id,
                meter_from_json(item.get("meter"), f"{where}.meter"),
                meter_from_json(item.get("base"), f"{where}.base"),
            )
        return entries

    def entries(self) -> list[OverlayEntry]:
        return list(self._entries.values())

    def effective(self, toml_meters: Mapping[str, MeterConfig]) -> list[OverlayEntry]:
        """The entries that still apply on top of these TOML meters; stale ones are dropped."""
        stale = [
            entry
            for entry in self._entries.values()
            if toml_meters.get(entry.meter_id) != entry.base
        ]
        for entry in stale:
            log.warning(
                "%s: meter %s: the fleet TOML changed this meter since it was changed through "
                "the API; the TOML wins and the API change is dropped",
                self.path,
                entry.meter_id,
            )
        if stale:
            self.forget([entry.meter_id for entry in stale])
        return list(self._entries.values())

    def record(
        self,
        changes: Mapping[str, MeterConfig | None],
        toml_meters: Mapping[str, MeterConfig],
    ) -> None:
        """Keep changes durably, all in one write (returns once it is on disk): a replacement
        by a new id must not survive a crash as a removal without its addition."""
        for meter_id, meter in changes.items():
            previous = self._entries.get(meter_id)
            base = previous.base if previous is not None else toml_meters.get(meter_id)
            if meter is None and base is None:
                self._entries.pop(meter_id, None)  # removing a meter only the API had added
            else:
                self._entries[meter_id] = OverlayEntry(meter_id, meter, base)
        self._write()

    def forget(self, meter_ids: list[str]) -> None:
        for meter_id in meter_ids:
            self._entries.pop(meter_id, None)
        self._write()

    def _write(self) -> None:
        if self.path is None:
            return
        document = {
            "version": FORMAT_VERSION,
            "meters": {
                entry.meter_id: {
                    "meter": meter_to_json(entry.meter),
                    "base": meter_to_json(entry.base),
                }
                for entry in self._entries.values()
            },
        }
        write_atomically(self.path, json.dumps(document, ensure_ascii=False, indent=1) + "\n")


def write_atomically(path: Path, text: str) -> None:
    """Either the old file or the new one survives a crash, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as temp:
            temp.write(text)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)

"""The ``[archive]`` table of the fleet TOML: take the meters from the meter archive (档案).

Why: a community of 252 households was 2,800 lines of ``[[meters]]`` tables, copied from the
billing office's spreadsheet that the archive already holds. With ``[archive]`` the fleet file
keeps what only it knows (channels, plans, policy) and says how archive meters are read where
the archive does not: the plan and the control mode per channel or terminal, and a Modbus
channel's register map. ``headend.config.archive_meters`` builds the meters when the head-end
starts. docs/configuration.md describes the table::

    [archive]
    path = "archive.sqlite"     # default: <data-dir>/archive.sqlite; relative: to this file
    plan = "household"          # for meters whose row and channel name none

    [archive.channels.bus-3]
    plan = "three_phase"
    control = "plaintext"

    [archive.terminals.T2-concentrator]
    control = "plaintext"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from headend.config.errors import ConfigError
from headend.config.fields import FileModel
from headend.config.meter_table import PASSWORD_PATTERN


class ArchiveDefaults(FileModel):
    """How a channel's (or a terminal's) archive meters are read, when their row does not say."""

    plan: str | None = Field(default=None, min_length=1)
    control: Literal["secured", "plaintext"] | None = None
    password: str | None = Field(default=None, pattern=PASSWORD_PATTERN)
    operator_code: str | None = Field(default=None, pattern=PASSWORD_PATTERN)
    register_map: str | None = Field(default=None, min_length=1)
    """Modbus channels: the map of their archive meters, whose ``address`` is the unit id."""


class ArchiveTable(ArchiveDefaults):
    """``[archive]``: the archive file, and the defaults of every archive meter."""

    path: str | None = Field(default=None, min_length=1)
    """The archive file; relative paths are the fleet file's directory's. Default: the data
    dir's ``archive.sqlite`` (``headend run --data-dir``)."""
    channels: dict[str, ArchiveDefaults] = Field(default_factory=dict)
    terminals: dict[str, ArchiveDefaults] = Field(default_factory=dict)

    def defaults(self, *, channel: str | None, terminal: str | None) -> ArchiveDefaults:
        """The channel's (or terminal's) defaults over the table's own, key by key."""
        own = (
            self.channels.get(channel)
            if channel is not None
            else self.terminals.get(terminal or "")
        )
        if own is None:
            return self
        merged = {
            key: getattr(own, key) if getattr(own, key) is not None else getattr(self, key)
            for key in ArchiveDefaults.model_fields
        }
        return ArchiveDefaults(**merged)


def check_archive_table(
    table: ArchiveTable,
    *,
    channels: Mapping[str, object],
    terminals: Mapping[str, object],
    plans: Mapping[str, object],
    source: str,
) -> None:
    """What the file alone can tell: the channels, terminals and plans the table names
    exist (checked at load, ``headend run --check``, before any archive is read)."""
    places: list[tuple[str, ArchiveDefaults]] = [("archive", table)]
    for kind, named, known in (
        ("channels", table.channels, channels),
        ("terminals", table.terminals, terminals),
    ):
        for name, defaults in named.items():
            if name not in known:
                raise ConfigError(
                    source,
                    f"archive.{kind}.{name}",
                    f"unknown {kind[:-1]} {name!r} (known: {', '.join(sorted(known))})",
                )
            places.append((f"archive.{kind}.{name}", defaults))
    for where, defaults in places:
        if defaults.plan is not None and defaults.plan not in plans:
            raise ConfigError(
                source,
                f"{where}.plan",
                f"unknown plan {defaults.plan!r} (known: {', '.join(sorted(plans))})",
            )

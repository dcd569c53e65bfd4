"""``headend archive import|export|diff``: the meter archive (档案) as a CSV or XLSX file.

A billing office keeps the archive as a spreadsheet; this is how it reaches
``<data-dir>/archive.sqlite``. ``import`` validates the whole file first and imports all of
it or nothing, printing every bad cell by row and column; ``diff`` (or ``import --dry-run``)
shows what an import would add, change and remove, changing nothing; ``export`` writes the
same columns, so export, edit, import changes only what was edited.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from headend.cli.archive_exchange import register_exchange
from headend.cli.errors import CommandFailed, ExitCode

if TYPE_CHECKING:
    from headend.commands.audit import AuditLog
    from storage.archive.diff import ArchiveDiff
    from storage.archive.records import ArchiveMeter

FORMAT_CHOICES = ("csv", "xlsx")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "archive",
        help="import, export or diff the meter archive (CSV or XLSX)",
        description=(
            "The meter archive (account, asset, kind, transformer, building, household, CT/PT, "
            "dates) kept in <data-dir>/archive.sqlite, as a CSV or XLSX file (docs/archive.md)."
        ),
    )
    parser.set_defaults(handler=_no_action, parser=parser)
    actions = parser.add_subparsers(title="actions", metavar="ACTION")

    importing = actions.add_parser(
        "import",
        help="make the archive exactly the file's meters (all rows or none)",
        description=(
            "Validate every row, then replace the archive's meters with the file's in one "
            "transaction. Meters an exchange replaced stay as history."
        ),
    )
    _file_arguments(importing)
    importing.add_argument(
        "--dry-run", action="store_true", help="print what would change, change nothing"
    )
    importing.set_defaults(handler=run_import, parser=importing)

    diffing = actions.add_parser(
        "diff",
        help="what importing the file would change (changes nothing)",
        description="Print the meters an import of FILE would add, change and remove.",
    )
    _file_arguments(diffing)
    diffing.set_defaults(handler=run_diff, parser=diffing)

    exporting = actions.add_parser(
        "export",
        help="write the archive's meters to a CSV or XLSX file (or CSV to stdout)",
        description="Write every meter of the archive, in the columns import reads.",
    )
    _file_arguments(exporting, output=True)
    exporting.set_defaults(handler=run_export, parser=exporting)
    register_exchange(actions)


def _file_arguments(parser: argparse.ArgumentParser, *, output: bool = False) -> None:
    parser.add_argument(
        "file",
        type=Path,
        help="the .csv or .xlsx file" + (" ('-': CSV on stdout)" if output else ""),
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var"),
        help="the head-end's data dir holding archive.sqlite (default: ./var)",
    )
    parser.add_argument(
        "--format", choices=FORMAT_CHOICES, help="file format (default: from the file name)"
    )
    if not output:
        parser.add_argument("--json", action="store_true", help="print the diff as JSON")


def _no_action(args: argparse.Namespace) -> int:
    args.parser.print_help(sys.stderr)
    return ExitCode.USAGE


def run_import(args: argparse.Namespace) -> int:
    from headend.commands.archive_changes import import_archive
    from storage.archive.store import ArchiveStore

    meters = _read(args)
    if args.dry_run:
        with _store_errors(), ArchiveStore.open(_archive_path(args)) as store:
            diff = store.diff(meters)
    else:
        with _store_errors():
            diff = import_archive(
                cli_audit(args.data_dir),
                _archive_path(args),
                meters,
                user=cli_user(),
                now=datetime.now(UTC),
                source=str(args.file),
            )
    _print_diff(diff, args, verb="would change" if args.dry_run else "imported")
    return ExitCode.OK


def cli_audit(data_dir: Path) -> AuditLog:
    """The head-end's audit file in ``data_dir``, appended to only (``AuditLog.appending``):
    the same trail the API's archive changes go to, safe beside a running head-end."""
    from headend.commands.audit import AUDIT_FILE, AuditLog

    return AuditLog.appending(Path(data_dir) / AUDIT_FILE)


def cli_user() -> str:
    """Who the audit names for a command typed at a shell: the login, marked as the CLI's."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        return "cli"


def run_diff(args: argparse.Namespace) -> int:
    from storage.archive.store import ArchiveStore

    meters = _read(args)
    with _store_errors(), ArchiveStore.open(_archive_path(args)) as store:
        diff = store.diff(meters)
    _print_diff(diff, args, verb="would change")
    return ExitCode.OK


def run_export(args: argparse.Namespace) -> int:
    from storage.archive.sheet import csv_text, write_meters
    from storage.archive.store import ARCHIVE_FILE, ArchiveStore

    path = _archive_path(args)
    if not path.exists():
        raise CommandFailed(ExitCode.USAGE, f"{args.data_dir}: no {ARCHIVE_FILE} to export")
    with _store_errors(), ArchiveStore.open(path) as store:
        meters = store.meters()
    if str(args.file) == "-":
        sys.stdout.write(csv_text(meters))
        return ExitCode.OK
    with _store_errors():
        count = write_meters(args.file, meters, args.format)
    print(f"exported {count} meters to {args.file}")
    return ExitCode.OK


def _archive_path(args: argparse.Namespace) -> Path:
    from storage.archive.store import ARCHIVE_FILE

    return Path(args.data_dir) / ARCHIVE_FILE


def _read(args: argparse.Namespace) -> list[ArchiveMeter]:
    from storage.archive.sheet import read_meters
    from storage.errors import ArchiveError, ArchiveImportError

    try:
        return read_meters(args.file, args.format)
    except ArchiveImportError as exc:
        lines = "\n".join(f"  {problem}" for problem in exc.problems)
        raise CommandFailed(
            ExitCode.USAGE,
            f"{exc.source}: {len(exc.problems)} problem(s), nothing imported:\n{lines}",
        ) from None
    except ArchiveError as exc:
        raise CommandFailed(ExitCode.USAGE, str(exc)) from None


@contextmanager
def _store_errors() -> Iterator[None]:
    """Archive refusals (duplicate ids, an unwritable file) as a usage failure, not a
    traceback."""
    from storage.errors import ArchiveError

    try:
        yield
    except ArchiveError as exc:
        raise CommandFailed(ExitCode.USAGE, str(exc)) from None


def _print_diff(diff: ArchiveDiff, args: argparse.Namespace, *, verb: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(diff.as_dict(), ensure_ascii=False))
        return
    for line in diff.lines():
        print(line)
    print(f"{args.file}: {verb}: {diff.summary()}")

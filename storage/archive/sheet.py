"""The archive as a spreadsheet (CSV or XLSX): the one file a billing office edits.

Why a module of its own: an import must name every bad cell at once ("row 7, column kind")
and import nothing while any is bad, so the whole file is parsed and validated before the
store is touched. Export writes the same columns in the same order, so a file exported,
edited and imported again changes only what was edited.

Row numbers are the spreadsheet's: the header is row 1, the first meter row 2.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

from storage.archive.records import ArchiveMeter, MeterRole
from storage.errors import ArchiveError, ArchiveImportError

COLUMNS: Final = tuple(f.name for f in fields(ArchiveMeter))
"""The spreadsheet's columns, in ``ArchiveMeter`` order (new fields land at the end)."""
REQUIRED: Final = frozenset({"id", "address"})
FORMATS: Final = ("csv", "xlsx")
_DEFAULTS: Final[Mapping[str, Any]] = {f.name: f.default for f in fields(ArchiveMeter)}


def format_of(path: Path | str, given: str | None = None) -> str:
    """``csv`` or ``xlsx``: as given, else from the file name's suffix."""
    kind = (given or Path(path).suffix.lstrip(".")).lower()
    if kind not in FORMATS:
        raise ArchiveError(
            f"{path}: cannot tell the format (need a .csv or .xlsx name, or say which)"
        )
    return kind


def read_rows(path: Path | str, kind: str | None = None) -> list[dict[str, Any]]:
    """The file's rows as header -> cell dicts (empty rows skipped, their numbers kept in
    ``"__row__"``)."""
    kind = format_of(path, kind)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read: {exc}") from None
    return rows_of_bytes(data, kind, str(path))


def rows_of_bytes(data: bytes, kind: str, source: str) -> list[dict[str, Any]]:
    """``read_rows`` of a file's content (an upload): ``source`` names it in the errors."""
    raw = _read_csv(data, source) if kind == "csv" else _read_xlsx(data, source)
    if not raw:
        raise _refused(source, [BadCell(1, None, "no header row")])
    header = [("" if cell is None else str(cell)).strip() for cell in raw[0]]
    problems = _header_problems(header)
    if problems:
        raise _refused(source, problems)
    rows: list[dict[str, Any]] = []
    for number, cells in enumerate(raw[1:], start=2):
        if all(cell is None or str(cell).strip() == "" for cell in cells):
            continue
        row: dict[str, Any] = {"__row__": number}
        for name, cell in zip(header, cells, strict=False):
            if name:
                row[name] = cell
        rows.append(row)
    return rows


def _read_csv(data: bytes, source: str) -> list[list[Any]]:
    # utf-8-sig: Excel saves CSV with a byte order mark, which would rename column "id".
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        what = f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save as CSV UTF-8"
        raise _refused(source, [BadCell(row, None, what)]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return [list(row) for row in reader]
    except csv.Error as exc:  # a NUL byte, a field over the csv module's size limit
        raise _refused(source, [BadCell(reader.line_num, None, f"not CSV: {exc}")]) from None


def _read_xlsx(data: bytes, source: str) -> list[list[Any]]:
    import zipfile

    import openpyxl  # only for XLSX files: it is slow to import
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ArchiveError(f"{source}: not a readable XLSX workbook: {exc}") from None
    try:
        sheet = book.worksheets[0]
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ArchiveError(f"{source}: not a readable XLSX workbook: {exc}") from None
    finally:
        book.close()


@dataclass(frozen=True, slots=True)
class BadCell:
    """One problem of a file: its row (the spreadsheet's number), its column when it is one
    cell's, and what is wrong; ``str()`` is the line an operator reads."""

    row: int
    column: str | None
    what: str

    def __str__(self) -> str:
        where = (
            f"row {self.row}" if self.column is None else f"row {self.row}, column {self.column}"
        )
        return f"{where}: {self.what}"


def _refused(source: str, problems: Sequence[BadCell]) -> ArchiveImportError:
    return ArchiveImportError(
        source, [str(p) for p in problems], cells=[(p.row, p.column) for p in problems]
    )


def _header_problems(header: Sequence[str]) -> list[BadCell]:
    problems = [
        BadCell(1, name, f"not an archive column (known: {', '.join(COLUMNS)})")
        for name in header
        if name and name not in COLUMNS
    ]
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(BadCell(1, name, "given twice"))
        seen.add(name)
    problems.extend(
        BadCell(1, None, f"required column {name} is missing")
        for name in sorted(REQUIRED - set(header))
    )
    return problems


def meters_of_rows(rows: Iterable[Mapping[str, Any]], source: str) -> list[ArchiveMeter]:
    """Every row as an ``ArchiveMeter``, or ``ArchiveImportError`` listing every bad cell
    (and ids given twice) by row and column: nothing partial is returned."""
    meters: list[ArchiveMeter] = []
    problems: list[BadCell] = []
    first_row: dict[str, int] = {}
    for index, row in enumerate(rows, start=2):
        number = int(row.get("__row__", index))
        values: dict[str, Any] = {}
        for name in COLUMNS:
            try:
                parse: Callable[[Any], Any] = _PARSERS.get(name, _text)
                value = parse(row.get(name))
            except ValueError as exc:
                problems.append(BadCell(number, name, str(exc)))
                continue
            if value is None:
                if name in REQUIRED:
                    problems.append(BadCell(number, name, "required, but empty"))
                continue
            values[name] = value
        meter_id = values.get("id")
        if isinstance(meter_id, str):
            if meter_id in first_row:
                problems.append(
                    BadCell(number, "id", f"{meter_id} already given in row {first_row[meter_id]}")
                )
                continue
            first_row[meter_id] = number
        installed, removed = values.get("installed"), values.get("removed")
        if isinstance(installed, date) and isinstance(removed, date) and removed < installed:
            problems.append(BadCell(number, "removed", f"{removed} is before installed"))
            continue
        if len(problems) == 0:
            meters.append(ArchiveMeter(**values))
    if problems:
        raise _refused(source, problems)
    return meters


def read_meters(path: Path | str, kind: str | None = None) -> list[ArchiveMeter]:
    """The meters of a CSV or XLSX archive file, validated whole (``meters_of_rows``)."""
    return meters_of_rows(read_rows(path, kind), str(path))


# Cell parsers: None for an empty cell, ValueError with a message for a bad one.


def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and cell.strip() == "")


def _text(cell: Any) -> str | None:
    if _blank(cell):
        return None
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)  # an account typed into a number cell reads back as 123.0
    text = str(cell).strip()
    if "\n" in text or "\r" in text:
        raise ValueError(f"{text!r} has a line break")
    return text


def _address(cell: Any) -> str | None:
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        raise ValueError(
            f"{cell!r} is a number cell, which loses leading zeros: format the column as text"
        )
    text = _text(cell)
    if text is None:
        return None
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a meter address (digits only)")
    if len(text) > 12:
        raise ValueError(f"{text!r} has more than 12 digits")
    return text


def _integer(cell: Any) -> int | None:
    if _blank(cell):
        return None
    if isinstance(cell, bool):
        raise ValueError(f"{cell!r} is not a whole number")
    if isinstance(cell, float):
        if not cell.is_integer():
            raise ValueError(f"{cell!r} is not a whole number")
        cell = int(cell)
    try:
        value = int(str(cell).strip())
    except ValueError:
        raise ValueError(f"{cell!r} is not a whole number") from None
    if not 0 <= value <= 2040:
        raise ValueError(f"{value} is out of 0..2040")
    return value


def _ratio(cell: Any) -> float | None:
    if _blank(cell):
        return None
    try:
        value = float(str(cell).strip()) if not isinstance(cell, (int, float)) else float(cell)
    except ValueError:
        raise ValueError(f"{cell!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{cell!r} must be a positive number")
    return value


def _day(cell: Any) -> date | None:
    if _blank(cell):
        return None
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    try:
        return date.fromisoformat(str(cell).strip())
    except ValueError:
        raise ValueError(f"{cell!r} is not a date (YYYY-MM-DD)") from None


def _role(cell: Any) -> MeterRole | None:
    text = _text(cell)
    if text is None:
        return None
    try:
        return MeterRole(text.lower())
    except ValueError:
        known = ", ".join(role.value for role in MeterRole)
        raise ValueError(f"{text!r} is not a meter kind ({known})") from None


_PARSERS: Final[Mapping[str, Callable[[Any], Any]]] = {
    "address": _address,
    "pn": _integer,
    "kind": _role,
    "ct_ratio": _ratio,
    "pt_ratio": _ratio,
    "installed": _day,
    "removed": _day,
}


# Export.


def cells_of(meter: ArchiveMeter) -> list[str | float | int | None]:
    """One meter as the export's cells: what ``meters_of_rows`` reads back as the same meter."""
    out: list[str | float | int | None] = []
    for name in COLUMNS:
        value = getattr(meter, name)
        if isinstance(value, MeterRole):
            out.append(value.value)
        elif isinstance(value, date):
            out.append(value.isoformat())
        else:
            out.append(value)
    return out


def csv_text(meters: Iterable[ArchiveMeter]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for meter in meters:
        writer.writerow(["" if cell is None else cell for cell in cells_of(meter)])
    return buffer.getvalue()


def write_meters(path: Path | str, meters: Iterable[ArchiveMeter], kind: str | None = None) -> int:
    """Write the archive to a CSV or XLSX file (to a temporary name first, then renamed, so a
    failed export never leaves half a file under the real name); returns the meter count."""
    kind = format_of(path, kind)
    path = Path(path)
    listed = list(meters)
    partial = path.with_name(f".{path.name}.partial")
    try:
        if kind == "csv":
            partial.write_text(csv_text(listed), encoding="utf-8")
        else:
            _write_xlsx(partial, listed)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ArchiveError(f"{path}: cannot write: {exc}") from None
    return len(listed)


def xlsx_bytes(meters: Iterable[ArchiveMeter]) -> bytes:
    """The archive as an XLSX workbook's bytes (the API's download)."""
    buffer = io.BytesIO()
    _write_xlsx(buffer, list(meters))
    return buffer.getvalue()


def _write_xlsx(target: Path | BinaryIO, meters: Sequence[ArchiveMeter]) -> None:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("archive")
    sheet.append(list(COLUMNS))
    for meter in meters:
        # Addresses, accounts and asset numbers stay text: a number cell drops leading zeros.
        sheet.append(cells_of(meter))
    book.save(target)

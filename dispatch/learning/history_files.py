"""A city's historical 311 / hotline records, read one row at a time for import.

Formats, chosen by the file's suffix: CSV (``.csv``), tab-separated (``.tsv``, ``.tab``),
Excel (``.xlsx``, first sheet, header in row 1) and Open311 GeoReport v2 ``requests.json``
(``.json``: a JSON array of service requests, read as UTF-8). Files are streamed, never
loaded whole (``ijson`` for JSON where it is installed).

Every data row gives one ``HistoryRow`` or one ``BadRow`` naming the column and the problem
(the cell readers and the date formats are in ``history_values``).
Line numbers are physical lines for CSV/TSV (the header is line 1; a quoted field that spans
lines counts all of them), sheet row numbers for XLSX, and array index + 1 for JSON. Problems
with the file itself (unknown format, a mapped column missing from the header, broken JSON,
a wrong encoding) raise ``HistoryFileError`` when iteration starts or reaches them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

from dispatch.learning.history_values import BadValue, read_coordinate, read_datetime, read_text


class HistoryFileError(ValueError):
    """The file cannot be read as history with this column map."""


class ColumnMap(BaseModel):
    """Which of the file's columns holds each field; ``text`` and a category or agency are required.

    With ``status`` mapped, ``closed_at`` is taken only from rows whose status is "closed".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    KEYS: ClassVar[tuple[str, ...]] = (
        "text", "category", "agency", "created_at", "closed_at", "status", "district", "lat", "lon", "id",
    )  # fmt: skip

    text: str
    category: str | None = None
    agency: str | None = None
    created_at: str | None = None
    closed_at: str | None = None
    status: str | None = None
    district: str | None = None
    lat: str | None = None
    lon: str | None = None
    id: str | None = None

    @model_validator(mode="after")
    def _needs_a_label(self) -> ColumnMap:
        if self.category is None and self.agency is None:
            raise ValueError("column map: map at least one of category= and agency=")
        return self

    @classmethod
    def parse(cls, spec: str) -> ColumnMap:
        """``"text=COL,category=COL,agency=COL,..."`` → a ColumnMap; names the offending key on error."""
        fields: dict[str, str] = {}
        for part in (piece.strip() for piece in spec.split(",")):
            if not part:
                continue
            key, sep, column = (token.strip() for token in part.partition("="))
            if not sep or not column:
                raise ValueError(f"column map: {part!r} is not KEY=COLUMN")
            if key not in cls.KEYS:
                raise ValueError(f"column map: unknown key {key!r}; allowed keys: {', '.join(cls.KEYS)}")
            if key in fields:
                raise ValueError(f"column map: {key!r} is given twice")
            fields[key] = column
        if "text" not in fields:
            raise ValueError("column map: text=COLUMN is required")
        return cls(**fields)

    def columns(self) -> dict[str, str]:
        """Mapped keys → column names, only the keys that are set."""
        return {key: column for key in self.KEYS if (column := getattr(self, key)) is not None}


OPEN311_COLUMNS = ColumnMap(
    text="description",
    category="service_name",
    agency="agency_responsible",
    created_at="requested_datetime",
    closed_at="updated_datetime",
    status="status",
    lat="lat",
    lon="long",
    id="service_request_id",
)


class HistoryRow(BaseModel):
    """One usable historical record. Datetimes are aware and in UTC (UTC assumed when none given)."""

    model_config = ConfigDict(frozen=True)

    line: int
    text: str
    category: str | None
    agency: str | None
    created_at: datetime | None
    closed_at: datetime | None
    district: str | None
    lat: float | None
    lon: float | None
    external_id: str | None


class BadRow(BaseModel):
    """A record that cannot be imported, and why (``"<column>: <problem>"``)."""

    model_config = ConfigDict(frozen=True)

    line: int
    reason: str


RowResult = HistoryRow | BadRow
_Record = tuple[int, Mapping[str, object]] | BadRow

_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".xlsx": "xlsx", ".xlsm": "xlsx", ".json": "json"}


def read_history(
    path: str | Path,
    column_map: ColumnMap | None = None,
    *,
    date_format: str | None = None,
    encoding: str = "utf-8",
) -> Iterator[RowResult]:
    """Stream the records of a history file; ``column_map`` may be left out only for Open311 JSON."""
    path = Path(path)
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise HistoryFileError(
            f"{path.name}: unsupported file type {path.suffix!r}; use one of {', '.join(_SUFFIXES)} "
            "(save .xls workbooks as .xlsx)"
        )
    if column_map is None and kind != "json":
        raise HistoryFileError(f"{path.name}: a column map is needed (text=COL,category=COL,...)")
    columns = (column_map or OPEN311_COLUMNS).columns()
    if kind == "xlsx":
        records = _xlsx_records(path, columns)
    elif kind == "json":
        records = _json_records(path, columns)
    else:
        records = _delimited_records(path, columns, delimiter=kind, encoding=encoding)
    for record in records:
        yield record if isinstance(record, BadRow) else _to_row(*record, columns, date_format)


def _column_indexes(header: list[str], columns: dict[str, str], source: str) -> dict[str, int]:
    index = {name: position for position, name in reversed(list(enumerate(header)))}
    missing = [f"{column!r} (for {key})" for key, column in columns.items() if column not in index]
    if missing:
        raise HistoryFileError(
            f"{source}: column {', '.join(missing)} not in the header; the header has: "
            + ", ".join(repr(name) for name in header)
        )
    return {key: index[column] for key, column in columns.items()}


def _header_names(cells: tuple[object, ...] | list[str]) -> list[str]:
    names = ["" if cell is None else str(cell).strip() for cell in cells]
    if names:
        names[0] = names[0].lstrip("\ufeff")
    return names


def _delimited_records(
    path: Path, columns: dict[str, str], *, delimiter: str, encoding: str
) -> Iterator[_Record]:
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        end = 0
        try:
            header = _header_names(next(reader, []))
            if not any(header):
                raise HistoryFileError(f"{path.name}: the file is empty; the first line must be the header")
            indexes = _column_indexes(header, columns, path.name)
            end = reader.line_num
            for row in reader:
                line, end = end + 1, reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) <= max(indexes.values()):
                    yield BadRow(
                        line=line, reason=f"row: has {len(row)} fields, the header has {len(header)}"
                    )
                    continue
                yield line, {key: row[position] for key, position in indexes.items()}
        except UnicodeDecodeError as error:
            line = _undecodable_line(path, encoding) or end + 1
            raise HistoryFileError(
                f"{path.name}: line {line} is not valid {encoding} ({error.reason}); give its encoding"
            ) from error
        except csv.Error as error:
            raise HistoryFileError(f"{path.name}: line {end + 1}: {error}") from error


def _undecodable_line(path: Path, encoding: str) -> int | None:
    """The first line that does not decode; text files decode ahead in chunks, so look again."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError:
                return number
    return None


def _xlsx_records(path: Path, columns: dict[str, str]) -> Iterator[_Record]:
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()
        rows = sheet.iter_rows(values_only=True)
        header = _header_names(next(rows, ()))
        indexes = _column_indexes(header, columns, f"{path.name} (sheet {sheet.title!r})")
        for number, row in enumerate(rows, start=2):
            if all(cell is None or str(cell).strip() == "" for cell in row):
                continue
            yield (
                number,
                {key: row[position] if position < len(row) else None for key, position in indexes.items()},
            )
    finally:
        workbook.close()


def _json_records(path: Path, columns: dict[str, str]) -> Iterator[_Record]:
    """Open311 records; their fields are optional, so a mapped key absent from one is empty."""
    with path.open("rb") as handle:
        _expect_array(handle, path.name)
        index = 0
        try:
            for index, item in enumerate(_json_items(handle), start=1):
                if not isinstance(item, dict):
                    yield BadRow(line=index, reason=f"record: a JSON {type(item).__name__}, not an object")
                    continue
                yield index, {key: item.get(column) for key, column in columns.items()}
        except ValueError as error:
            raise HistoryFileError(f"{path.name}: invalid JSON after record {index}: {error}") from error


def _expect_array(handle: IO[bytes], name: str) -> None:
    head = handle.read(1024).lstrip(b"\xef\xbb\xbf \t\r\n")
    handle.seek(0)
    if not head.startswith(b"["):
        raise HistoryFileError(f"{name}: expected a JSON array of service requests (Open311 requests.json)")


def _json_items(handle: IO[bytes]) -> Iterator[object]:
    try:
        import ijson
    except ImportError:
        yield from json.load(handle)
        return
    try:
        yield from ijson.items(handle, "item", use_float=True)
    except ijson.JSONError as error:
        raise ValueError(str(error).splitlines()[0]) from error


def _to_row(
    line: int, values: Mapping[str, object], columns: dict[str, str], date_format: str | None
) -> RowResult:
    try:
        text = read_text("text", values.get("text"))
        if text is None:
            raise BadValue("text", "empty")
        labels = {key: read_text(key, values.get(key)) for key in ("category", "agency") if key in columns}
        if not any(labels.values()):
            raise BadValue(" and ".join(labels), "empty")
        created_at = read_datetime("created_at", values.get("created_at"), date_format)
        closed_at = (
            read_datetime("closed_at", values.get("closed_at"), date_format)
            if _closed(values, columns)
            else None
        )
        if created_at and closed_at and closed_at < created_at:
            raise BadValue(
                "closed_at", f"{closed_at.isoformat()} is before created_at {created_at.isoformat()}"
            )
        lat = read_coordinate("lat", values.get("lat"), 90.0)
        lon = read_coordinate("lon", values.get("lon"), 180.0)
        if (lat is None) != (lon is None):
            raise BadValue("lon" if lon is None else "lat", "empty while the other coordinate is given")
        return HistoryRow(
            line=line,
            text=text,
            category=labels.get("category"),
            agency=labels.get("agency"),
            created_at=created_at,
            closed_at=closed_at,
            district=read_text("district", values.get("district")),
            lat=lat,
            lon=lon,
            external_id=read_text("id", values.get("id")),
        )
    except BadValue as bad:
        return BadRow(line=line, reason=str(bad))


def _closed(values: Mapping[str, object], columns: dict[str, str]) -> bool:
    if "status" not in columns:
        return True
    return str(values.get("status") or "").strip().lower() == "closed"

import json
import sys
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import openpyxl
import pytest

from dispatch.learning.history_files import (
    BadRow,
    ColumnMap,
    HistoryFileError,
    HistoryRow,
    RowResult,
    read_history,
)

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
MAP = ColumnMap.parse(
    "text=descr,category=type,agency=agency,created_at=opened,closed_at=closed,district=area,lat=lat,lon=lon,id=key"
)
HEADER = "key,opened,closed,type,agency,descr,area,lat,lon"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def by_line(results: list[RowResult]) -> dict[int, RowResult]:
    return {result.line: result for result in results}


def created(result: RowResult) -> datetime | None:
    assert isinstance(result, HistoryRow), result
    return result.created_at


DATES = [
    ("2024-03-01T08:15:00+02:00", datetime(2024, 3, 1, 6, 15, tzinfo=UTC)),
    ("2024-03-01 08:15:00", datetime(2024, 3, 1, 8, 15, tzinfo=UTC)),
    ("2026-06-28T03:05:20.000", datetime(2026, 6, 28, 3, 5, 20, tzinfo=UTC)),
    ("2019-10-06 00:05:55 UTC", datetime(2019, 10, 6, 0, 5, 55, tzinfo=UTC)),
    ("03/01/2024 08:15:00 PM", datetime(2024, 3, 1, 20, 15, tzinfo=UTC)),
    ("03/01/2024 08:15", datetime(2024, 3, 1, 8, 15, tzinfo=UTC)),
    ("2024/03/01 08:15", datetime(2024, 3, 1, 8, 15, tzinfo=UTC)),
    ("2024/03/01 08:15:30", datetime(2024, 3, 1, 8, 15, 30, tzinfo=UTC)),
    ("2024-03-01", datetime(2024, 3, 1, tzinfo=UTC)),
    ("1709280900", datetime(2024, 3, 1, 8, 15, tzinfo=UTC)),
    ("1709280900000", datetime(2024, 3, 1, 8, 15, tzinfo=UTC)),
]


def test_every_supported_date_format_reads_as_an_aware_utc_datetime(tmp_path: Path) -> None:
    lines = [HEADER] + [f"{n},{raw},,Pothole,DOT,hole in road,N,," for n, (raw, _) in enumerate(DATES)]
    results = list(read_history(write(tmp_path, "dates.csv", "\n".join(lines) + "\n"), MAP))
    assert [created(result) for result in results] == [expected for _, expected in DATES]
    assert [result.line for result in results] == list(range(2, len(DATES) + 2))


BAD_CSV = (
    HEADER + "\n"
    "1,03/01/2024 08:15,,Pothole,DOT,deep hole,N,40.7,-73.9\n"  # line 2: good
    '2,2024-03-01,,Graffiti,DSNY,"paint on the wall,\nand on the door",S,,\n'  # lines 3-4: good
    "3,13/45/2020,,Pothole,DOT,hole,N,,\n"  # line 5
    "4,2024-03-01,,Pothole,DOT,   ,N,,\n"  # line 6
    "5,2024-03-01,,Pothole,DOT,bad\x00byte,N,,\n"  # line 7
    "\n"  # line 8: blank, skipped
    "6,2024-03-01,,Pothole,DOT,hole,N,123.4,-73.9\n"  # line 9
    "7,2024-03-01,,Pothole,DOT,hole,N,40.7,\n"  # line 10
    "8,2024-03-01,,,,hole,N,,\n"  # line 11
    "9,2024-03-02,2024-03-01,Pothole,DOT,hole,N,,\n"  # line 12
    "10,2024-03-01\n"  # line 13
    "11,2024-03-01,,Pothole,DOT,hole,N,abc,1\n"  # line 14
)


def test_bad_rows_name_the_column_and_the_problem_at_their_physical_line(tmp_path: Path) -> None:
    results = by_line(list(read_history(write(tmp_path, "bad.csv", BAD_CSV), MAP)))
    assert sorted(results) == [2, 3, 5, 6, 7, 9, 10, 11, 12, 13, 14]
    first, second = results[2], results[3]
    assert isinstance(first, HistoryRow) and isinstance(second, HistoryRow)
    assert (first.text, first.category, first.agency, first.district) == ("deep hole", "Pothole", "DOT", "N")
    assert (first.lat, first.lon, first.external_id) == (40.7, -73.9, "1")
    assert second.text == "paint on the wall,\nand on the door"
    reasons = {line: result.reason for line, result in results.items() if isinstance(result, BadRow)}
    assert reasons[5].startswith("created_at: '13/45/2020' is not a date (tried ISO 8601, MM/DD/YYYY hh:mm")
    assert "Unix time" in reasons[5]
    assert reasons[6] == "text: empty"
    assert reasons[7] == "text: contains a control character"
    assert reasons[9] == "lat: 123.4 is outside -90..90"
    assert reasons[10] == "lon: empty while the other coordinate is given"
    assert reasons[11] == "category and agency: empty"
    assert reasons[12].startswith("closed_at: 2024-03-01T00:00:00+00:00 is before created_at")
    assert reasons[13] == "row: has 2 fields, the header has 9"
    assert reasons[14] == "lat: 'abc' is not a number"


def test_an_explicit_date_format_overrides_the_guesses(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dmy.csv",
        f"{HEADER}\n1,13/04/2020,,Pothole,DOT,hole,N,,\n2,04/13/2020,,Pothole,DOT,hole,N,,\n",
    )
    first, second = read_history(path, MAP, date_format="%d/%m/%Y")
    assert created(first) == datetime(2020, 4, 13, tzinfo=UTC)
    assert isinstance(second, BadRow)
    assert second.reason == "created_at: '04/13/2020' does not match the date format '%d/%m/%Y'"


def test_a_mapped_column_missing_from_the_header_fails_before_any_row(tmp_path: Path) -> None:
    path = write(tmp_path, "missing.csv", "key,when,descr\n1,2024-03-01,hole\n")
    column_map = ColumnMap.parse("text=descr,category=type,created_at=when")
    with pytest.raises(
        HistoryFileError, match=r"'type' \(for category\) not in the header.*'key', 'when', 'descr'"
    ):
        next(read_history(path, column_map))


def test_tab_separated_files_and_a_byte_order_mark_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, "h.tsv", "\ufeffdescr\ttype\nhole, deep\tPothole\n")
    (row,) = read_history(path, ColumnMap.parse("text=descr,category=type"))
    assert isinstance(row, HistoryRow) and (row.text, row.category, row.agency) == (
        "hole, deep",
        "Pothole",
        None,
    )


def test_rows_stream_before_a_later_encoding_error_which_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    good = b"".join(b"hole number %d,Pothole\n" % n for n in range(3000))
    path.write_bytes(b"descr,type\n" + good + b"fa\xe7ade,Graffiti\n")
    rows = read_history(path, ColumnMap.parse("text=descr,category=type"))
    assert isinstance(next(rows), HistoryRow)
    with pytest.raises(HistoryFileError, match=r"latin.csv: line 3002 is not valid utf-8.*encoding"):
        list(rows)
    last = list(read_history(path, ColumnMap.parse("text=descr,category=type"), encoding="latin-1"))[-1]
    assert isinstance(last, HistoryRow) and (last.line, last.text) == (3002, "façade")


def test_an_xlsx_sheet_reads_typed_cells_with_sheet_row_numbers(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["key", "opened", "closed", "type", "agency", "descr", "area", "lat", "lon"])
    sheet.append([101, datetime(2024, 3, 1, 8, 15), None, "Pothole", "DOT", "hole", 7, 40.5, -73.25])
    sheet.append([102, 1709280900, None, "Graffiti", "DSNY", "paint", 3, None, None])
    sheet.append([None] * 9)
    sheet.append([104, "2024-03-01", None, "Pothole", "DOT", None, 7, None, None])
    path = tmp_path / "history.xlsx"
    workbook.save(path)
    results = by_line(list(read_history(path, MAP)))
    assert sorted(results) == [2, 3, 5]
    first, second, third = results[2], results[3], results[5]
    assert isinstance(first, HistoryRow) and isinstance(second, HistoryRow)
    assert first.created_at == datetime(2024, 3, 1, 8, 15, tzinfo=UTC)
    assert (first.external_id, first.district, first.lat, first.lon) == ("101", "7", 40.5, -73.25)
    assert second.created_at == datetime(2024, 3, 1, 8, 15, tzinfo=UTC)
    assert third == BadRow(line=5, reason="text: empty")


def test_an_xlsx_without_a_mapped_column_names_the_sheet_and_its_header(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["descr", "agency"])
    sheet.append(["hole", "DOT"])
    workbook.save(tmp_path / "h.xlsx")
    with pytest.raises(HistoryFileError, match=r"sheet .*'type' \(for category\).*'descr', 'agency'"):
        list(read_history(tmp_path / "h.xlsx", ColumnMap.parse("text=descr,category=type")))


OPEN311 = [
    {
        "service_request_id": "638344",
        "status": "closed",
        "service_name": "Sidewalk and Curb Issues",
        "service_code": "006",
        "description": "Sidewalk is cracked",
        "agency_responsible": "Department of Public Works",
        "requested_datetime": "2010-04-14T06:37:38-08:00",
        "updated_datetime": "2010-04-14T15:37:38-08:00",
        "address": "8TH AVE and JUDAH ST",
        "lat": 37.762221815,
        "long": -122.4651145,
    },
    {
        "service_request_id": 638349,
        "status": "open",
        "service_name": "Graffiti",
        "description": "Tags on the bus shelter",
        "requested_datetime": "2010-04-19T06:37:38-08:00",
        "updated_datetime": "2010-04-19T07:00:00-08:00",
    },
    ["not", "a", "request"],
    {"service_name": "Graffiti", "description": "", "requested_datetime": "2010-04-20T06:37:38-08:00"},
]


def read_open311(tmp_path: Path) -> list[RowResult]:
    return list(read_history(write(tmp_path, "requests.json", json.dumps(OPEN311, indent=1))))


def test_open311_requests_use_the_default_map(tmp_path: Path) -> None:
    first, second, third, fourth = read_open311(tmp_path)
    assert first == HistoryRow(
        line=1,
        text="Sidewalk is cracked",
        category="Sidewalk and Curb Issues",
        agency="Department of Public Works",
        created_at=datetime(2010, 4, 14, 14, 37, 38, tzinfo=UTC),
        closed_at=datetime(2010, 4, 14, 23, 37, 38, tzinfo=UTC),
        district=None,
        lat=37.762221815,
        lon=-122.4651145,
        external_id="638344",
    )
    assert isinstance(second, HistoryRow)
    assert (second.closed_at, second.agency, second.external_id) == (None, None, "638349")
    assert third == BadRow(line=3, reason="record: a JSON list, not an object")
    assert fourth == BadRow(line=4, reason="text: empty")


def test_open311_reads_the_same_without_ijson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    streamed = read_open311(tmp_path)
    monkeypatch.setitem(sys.modules, "ijson", None)
    assert read_open311(tmp_path) == streamed


def test_broken_or_non_array_json_is_a_file_error(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.json", json.dumps(OPEN311)[:-40])
    with pytest.raises(HistoryFileError, match="broken.json: invalid JSON after record"):
        list(read_history(broken))
    with pytest.raises(HistoryFileError, match="expected a JSON array of service requests"):
        list(read_history(write(tmp_path, "object.json", json.dumps({"requests": OPEN311}))))


def test_unsupported_files_and_a_missing_map_are_refused(tmp_path: Path) -> None:
    with pytest.raises(HistoryFileError, match=r"unsupported file type '.xls'.*\.xlsx"):
        next(read_history(tmp_path / "old.xls", MAP))
    with pytest.raises(HistoryFileError, match="a column map is needed"):
        next(read_history(write(tmp_path, "h.csv", "a\n")))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("text=a,categry=b", r"unknown key 'categry'; allowed keys: text, category, agency, created_at"),
        ("category=b", "text=COLUMN is required"),
        ("text=a,district=b", "at least one of category= and agency="),
        ("text=a,category", r"'category' is not KEY=COLUMN"),
        ("text=a,category=b,category=c", "'category' is given twice"),
    ],
)
def test_a_bad_column_map_names_the_problem(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ColumnMap.parse(spec)


def test_a_column_map_keeps_only_the_keys_given() -> None:
    column_map = ColumnMap.parse(" text = Descriptor , agency=Agency ")
    assert column_map.columns() == {"text": "Descriptor", "agency": "Agency"}


@pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} is absent (see shared/data/SOURCES.md)")
@pytest.mark.parametrize(
    ("relative", "spec"),
    [
        (
            "311/nyc311_sample.csv",
            "text=descriptor,category=complaint_type,agency=agency,created_at=created_date,"
            "closed_at=closed_date,district=borough,lat=latitude,lon=longitude,id=unique_key",
        ),
        (
            "311/sf311_sample.csv",
            "text=descriptor,category=category,agency=agency_name,created_at=created_date,"
            "closed_at=closed_date,status=status,district=supervisor_district,lat=latitude,lon=longitude",
        ),
        ("zh/gov_messages_by_domain.csv", "text=text,category=problem_type,agency=domain,id=msg_id"),
    ],
)
def test_the_real_city_samples_read_with_their_own_columns(relative: str, spec: str) -> None:
    results = list(islice(read_history(DATA / relative, ColumnMap.parse(spec)), 300))
    rows = [result for result in results if isinstance(result, HistoryRow)]
    assert len(rows) >= 280
    assert all(row.created_at is None or row.created_at.tzinfo is UTC for row in rows)
    assert all(row.category or row.agency for row in rows)

"""``cityloop history import``: CSV, TSV, XLSX and Open311 JSON into PostgreSQL; bad rows
reported with line and reason; a failed import leaves nothing behind."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cityloop.cli import cityloop
from dispatch.learning.history import import_history
from dispatch.learning.history_files import ColumnMap, HistoryFileError
from dispatch.learning.models import HistoryImport, HistoryRecord

MAP = "text=descr,category=type,agency=agency,created_at=opened,district=area"
CSV = (
    "opened,type,agency,descr,area\n"
    "03/01/2024 08:15:00 PM,Pothole,DOT,hole in the road,North\n"
    "2024/03/02 09:00,Graffiti,DSNY,paint on a wall,South\n"
    "not a date,Graffiti,DSNY,more paint,South\n"
    "1709280900,Noise,NYPD,loud music,\n"
)


@pytest.fixture()
def factory(migrated_db: str, clean_state: None) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(migrated_db)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture()
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated_db: str,
        broker_url: str) -> Callable[..., Result]:
    for name in ("DATABASE_URL", "BROKER_URL", "CITY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CITYLOOP_CONFIG", str(tmp_path / "absent.yaml"))
    monkeypatch.setenv("EMBEDDED__DATA_DIR", str(tmp_path / "var"))

    def run(*args: str) -> Result:
        return CliRunner().invoke(cityloop, list(args), prog_name="cityloop",
                                  env={"DATABASE_URL": migrated_db, "BROKER_URL": broker_url})

    return run


def stored(factory: sessionmaker[Session]) -> list[tuple[str, str | None, str | None]]:
    with factory() as db:
        rows = db.scalars(select(HistoryRecord).order_by(HistoryRecord.line)).all()
        return [(row.text, row.category, row.agency) for row in rows]


def test_csv_import_stores_good_rows_and_reports_bad_ones_with_line_and_reason(
    tmp_path: Path, factory: sessionmaker[Session], cli: Callable[..., Result]
) -> None:
    path = tmp_path / "records.csv"
    path.write_text(CSV, encoding="utf-8")
    done = cli("history", "import", str(path), "--map", MAP)
    assert done.exit_code == 0, done.output
    assert "3 rows imported, 1 bad rows skipped" in done.stdout
    assert "records.csv: line 4: created_at: 'not a date' is not a date" in done.stderr
    assert stored(factory) == [("hole in the road", "Pothole", "DOT"), ("paint on a wall", "Graffiti", "DSNY"),
                               ("loud music", "Noise", "NYPD")]
    with factory() as db:
        record = db.scalars(select(HistoryImport)).one()
        assert (record.rows, record.bad_rows) == (3, 1)
        assert record.bad_examples[0]["line"] == 4
        first = db.scalars(select(HistoryRecord).where(HistoryRecord.line == 2)).one()
        assert first.created_at is not None and first.created_at.hour == 20
        assert first.district == "North"


def test_tsv_xlsx_and_open311_json_import_the_same_records(
    tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    tsv = tmp_path / "records.tsv"
    tsv.write_text(CSV.replace(",", "\t"), encoding="utf-8")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for line in CSV.splitlines():
        sheet.append(line.split(","))
    xlsx = tmp_path / "records.xlsx"
    workbook.save(xlsx)
    requests = [{"service_request_id": "1", "service_name": "Pothole", "agency_responsible": "DOT",
                 "description": "hole in the road", "requested_datetime": "2024-03-01T20:15:00Z"},
                {"service_request_id": "2", "service_name": "Graffiti", "agency_responsible": "DSNY",
                 "description": "", "requested_datetime": "2024-03-02T09:00:00Z"}]
    open311 = tmp_path / "requests.json"
    open311.write_text(json.dumps(requests), encoding="utf-8")
    column_map = ColumnMap.parse(MAP)
    for path in (tsv, xlsx):
        result = import_history(factory=factory, path=path, column_map=column_map)
        assert (result.rows, result.bad_rows) == (3, 1), path
    result = import_history(factory=factory, path=open311, column_map=None)
    assert (result.rows, result.bad_rows) == (1, 1)
    assert result.bad_examples[0].line == 2 and result.bad_examples[0].reason == "text: empty"
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(HistoryRecord)) == 7
        assert db.scalar(select(func.count()).select_from(HistoryImport)) == 3


def test_a_file_that_breaks_half_way_leaves_nothing_imported(
    tmp_path: Path, factory: sessionmaker[Session], cli: Callable[..., Result]
) -> None:
    path = tmp_path / "broken.csv"
    good = "".join(f"2024-03-01,Pothole,DOT,hole number {n},North\n" for n in range(30))
    # a byte that is not UTF-8 after the first batch has been written
    path.write_bytes(("opened,type,agency,descr,area\n" + good).encode() + b"2024-03-01,Pot\xff,DOT,x,N\n")
    with pytest.raises(HistoryFileError, match="line 32 is not valid utf-8"):
        import_history(factory=factory, path=path, column_map=ColumnMap.parse(MAP), batch_size=10)
    done = cli("history", "import", str(path), "--map", MAP)
    assert done.exit_code == 2
    assert "nothing was imported" in done.stderr
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(HistoryRecord)) == 0
        assert db.scalar(select(func.count()).select_from(HistoryImport)) == 0


def test_a_bad_column_map_names_the_problem(tmp_path: Path, cli: Callable[..., Result]) -> None:
    path = tmp_path / "records.csv"
    path.write_text(CSV, encoding="utf-8")
    done = cli("history", "import", str(path), "--map", "text=descr,kind=type")
    assert done.exit_code == 2
    assert "unknown key 'kind'" in done.stderr
    missing = cli("history", "import", str(path), "--map", "text=description,agency=agency")
    assert missing.exit_code == 2 and "'description' (for text) not in the header" in missing.stderr

"""Importing a city's history: a file streamed into ``history_rows`` in one transaction.

Rows go in with PostgreSQL ``COPY`` in batches, so a million rows take seconds, not hours;
the import record and every row commit together, so a failure (a broken file half-way, an
interrupted command) leaves nothing behind. Bad rows are skipped, counted and kept (the
first ``MAX_BAD_EXAMPLES``) with their line and reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dispatch.core.db import transaction
from dispatch.learning.history_files import BadRow, ColumnMap, HistoryRow, read_history
from dispatch.learning.models import HistoryImport, HistoryRecord

BATCH_SIZE = 5000
MAX_BAD_EXAMPLES = 1000
_COPY = ("COPY history_rows (import_id, line, text, category, agency, created_at, closed_at, "
         "district, lat, lon, external_id) FROM STDIN")


@dataclass
class ImportResult:
    import_id: int
    rows: int = 0
    bad_rows: int = 0
    bad_examples: list[BadRow] = field(default_factory=list)


def import_history(
    *, factory: sessionmaker[Session], path: Path, column_map: ColumnMap | None,
    date_format: str | None = None, encoding: str = "utf-8",
    progress: Callable[[int], None] | None = None, batch_size: int = BATCH_SIZE,
) -> ImportResult:
    """Read ``path`` and store its good rows under one new import id; all or nothing.

    ``progress`` is called with the number of records read (good and bad) after each batch.
    Raises ``HistoryFileError`` for a file that cannot be read (nothing is stored then).
    """
    columns = (column_map.columns() if column_map else {})
    with transaction(factory) as db:
        record = HistoryImport(source=str(path), column_map=columns, rows=0, bad_rows=0, bad_examples=[])
        db.add(record)
        db.flush()
        result = ImportResult(import_id=record.id)
        rows = read_history(path, column_map, date_format=date_format, encoding=encoding)
        for batch in _batches(rows, batch_size):
            good = [row for row in batch if isinstance(row, HistoryRow)]
            for bad in (row for row in batch if isinstance(row, BadRow)):
                result.bad_rows += 1
                if len(result.bad_examples) < MAX_BAD_EXAMPLES:
                    result.bad_examples.append(bad)
            _copy_rows(db, record.id, good)
            result.rows += len(good)
            if progress is not None:
                progress(len(batch))
        record.rows, record.bad_rows = result.rows, result.bad_rows
        record.bad_examples = [bad.model_dump() for bad in result.bad_examples]
    return result


def _batches(rows: Iterator[HistoryRow | BadRow], size: int) -> Iterator[list[HistoryRow | BadRow]]:
    batch: list[HistoryRow | BadRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _copy_rows(db: Session, import_id: int, rows: list[HistoryRow]) -> None:
    if not rows:
        return
    raw = db.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(_COPY) as copy:
        for row in rows:
            copy.write_row((import_id, row.line, row.text, row.category, row.agency, row.created_at,
                            row.closed_at, row.district, row.lat, row.lon, row.external_id))


def history_rows(*, db_session: Session, import_id: int | None = None) -> list[HistoryRecord]:
    """Imported rows (of one import, or of every import), oldest request first."""
    query = select(HistoryRecord)
    if import_id is not None:
        query = query.where(HistoryRecord.import_id == import_id)
    query = query.order_by(HistoryRecord.created_at.asc().nulls_last(), HistoryRecord.id)
    return list(db_session.scalars(query))


def imports(*, db_session: Session) -> list[HistoryImport]:
    return list(db_session.scalars(select(HistoryImport).order_by(HistoryImport.id)))


def history_size(*, db_session: Session) -> int:
    return int(db_session.scalar(select(func.count()).select_from(HistoryRecord)) or 0)

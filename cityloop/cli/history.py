"""``cityloop history import|list``: a city's past 311 / hotline records into PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cityloop.cli.context import CommandFailed, OrderedGroup, with_settings
from cityloop.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from dispatch.learning.history_files import ColumnMap

MAP_HELP = ("Which column holds each field: text=COL,category=COL,agency=COL[,created_at=COL,"
            "closed_at=COL,status=COL,district=COL,lat=COL,lon=COL,id=COL]; optional for Open311 JSON.")
SHOWN_BAD_ROWS = 20


@click.group(cls=OrderedGroup)
def history() -> None:
    """A city's past records: import them, list the imports."""


@contextmanager
def session_factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """A session factory on a short-lived engine for one command."""
    from cityloop.compose import dispatch_config
    from dispatch.core.db import make_engine, make_session_factory

    engine = make_engine(dispatch_config(settings).database_url, pool_size=1)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def parse_map(spec: str | None) -> ColumnMap | None:
    """``--map`` as a ColumnMap (None when not given); a bad one ends the command with why."""
    from dispatch.learning.history_files import ColumnMap

    if spec is None:
        return None
    try:
        return ColumnMap.parse(spec)
    except ValueError as exc:
        raise CommandFailed(f"--map: {exc}") from None


def _line_count(path: Path) -> int | None:
    """Records in a delimited file, roughly (physical lines less the header), for the bar."""
    if path.suffix.lower() not in (".csv", ".tsv", ".tab"):
        return None
    with path.open("rb") as handle:
        return max(sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1, 0)


@history.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--map", "columns", metavar="text=COL,...", help=MAP_HELP)
@click.option("--date-format", metavar="STRPTIME",
              help="The dates' format (e.g. '%d.%m.%Y %H:%M'); default: ISO, MM/DD/YYYY hh:mm:ss AM, "
                   "YYYY/MM/DD HH:MM, Unix time.")
@click.option("--encoding", default="utf-8", show_default=True, help="CSV/TSV text encoding.")
@with_settings
def import_command(settings: Settings, file: Path, columns: str | None, date_format: str | None,
                   encoding: str) -> int:
    """Import a CSV, TSV, XLSX or Open311 requests.json file; all rows or none."""
    from dispatch.learning.history import import_history
    from dispatch.learning.history_files import HistoryFileError

    column_map = parse_map(columns)
    total: int = _line_count(file) or 0
    stderr = sys.stderr
    with session_factory(settings) as factory, click.progressbar(
        length=total, label=f"importing {file.name}", file=stderr, show_pos=True,
    ) as bar:
        try:
            result = import_history(factory=factory, path=file, column_map=column_map,
                                    date_format=date_format, encoding=encoding, progress=bar.update)
        except HistoryFileError as exc:
            raise CommandFailed(f"{exc} (nothing was imported)") from None
    for bad in result.bad_examples[:SHOWN_BAD_ROWS]:
        click.echo(f"{file.name}: line {bad.line}: {bad.reason}", err=True)
    if result.bad_rows > SHOWN_BAD_ROWS:
        click.echo(f"... and {result.bad_rows - SHOWN_BAD_ROWS} more bad rows "
                   f"(`cityloop history list` keeps the first {len(result.bad_examples)})", err=True)
    click.echo(f"import {result.import_id}: {result.rows} rows imported, {result.bad_rows} bad rows skipped")
    return 0


@history.command("list")
@with_settings
def list_command(settings: Settings) -> int:
    """The imports: id, file, rows, bad rows, when."""
    from dispatch.learning.history import imports

    with session_factory(settings) as factory, factory() as db:
        for record in imports(db_session=db):
            click.echo(f"{record.id:>4}  {record.imported_at:%Y-%m-%d %H:%M}  {record.rows:>9} rows  "
                       f"{record.bad_rows:>7} bad  {record.source}")
    return 0

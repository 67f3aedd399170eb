"""``cityloop city check [FILE]``: validate a city file (``check-config`` is the older name)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from cityloop.cli.context import USAGE, OrderedGroup, exit_with, with_settings
from cityloop.settings import Settings


@click.group(cls=OrderedGroup)
def city() -> None:
    """The city file: agencies, categories, routing, cameras."""


def check(path: Path) -> int:
    """Print a one-line summary of the city file at ``path`` (0), or every problem in it (2)."""
    from dispatch.city.config import CityConfigError, load_city

    try:
        loaded = load_city(path)
    except CityConfigError as exc:
        click.echo(str(exc), err=True)
        return USAGE
    click.echo(f"{path}: OK — {loaded.city.name}: {len(loaded.agencies)} agencies, "
               f"{len(loaded.categories)} categories, {len(loaded.district_list)} districts, "
               f"{len(loaded.routing.rules)} routing rules")
    return 0


def require_valid_city(settings: Settings) -> None:
    """Exit 2 with every problem of the configured city file, before a long-running command starts."""
    exit_with(check(settings.city_file))


_FILE = click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))


@city.command("check")
@_FILE
@with_settings
def check_command(settings: Settings, file: Path | None) -> int:
    """Validate a city YAML file (default: the configured CITY_FILE)."""
    return check(file or settings.city_file)


@click.command("check-config", hidden=True)
@_FILE
@with_settings
def check_config(settings: Settings, file: Path | None) -> int:
    """Validate a city YAML file (the older name of `city check`)."""
    return check(file or settings.city_file)


@city.command("init")
@click.option("--from-history", "source", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The city's records: CSV, TSV, XLSX or Open311 requests.json.")
@click.option("--map", "columns", metavar="text=COL,category=COL,agency=COL,...",
              help="Which columns hold the text, request type, agency (and district, dates ...).")
@click.option("--date-format", metavar="STRPTIME", help="The dates' format, when not a common one.")
@click.option("--name", help="The city's name (default: the file's name).")
@click.option("--timezone", default="UTC", show_default=True, help="The city's IANA time zone.")
@click.option("--agencies", "agencies", type=click.Choice(["departments", "as-named"]), default="departments",
              show_default=True, help="Fold work queues named after their department (\"DPW Ops Queue\", "
              "\"DPW BSM Queue\") into one agency, or keep one agency per name in the records.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the drafted city file.")
def init(source: Path, columns: str | None, date_format: str | None, name: str | None, timezone: str,
         agencies: str, output: Path) -> None:
    """Draft a city file from the city's own records: agencies, categories, routing, districts."""
    from cityloop.cli.context import CommandFailed
    from cityloop.cli.history import parse_map
    from dispatch.learning.drafting import draft_city, tally
    from dispatch.learning.history_files import BadRow, HistoryFileError, HistoryRow, read_history

    column_map = parse_map(columns)
    good = bad = 0

    def counted(rows: Iterator[HistoryRow | BadRow]) -> Iterator[HistoryRow]:
        nonlocal good, bad
        for row in rows:  # streamed: the counts are kept, never the rows
            if isinstance(row, HistoryRow):
                good += 1
                yield row
            else:
                bad += 1

    try:
        counts = tally(counted(read_history(source, column_map, date_format=date_format)))
        text = draft_city(counts, name=name or source.stem, timezone=timezone,
                          group_agencies=agencies == "departments")
    except (HistoryFileError, ValueError) as exc:
        raise CommandFailed(str(exc)) from None
    output.write_text(text, encoding="utf-8")
    click.echo(f"{output}: drafted from {good} records ({bad} bad rows left out)")
    exit_with(check(output))


@city.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here (default: standard output).")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@with_settings
def export(settings: Settings, output: Path | None, file: Path | None) -> int:
    """The city file merged with the routing rules accepted from correction proposals."""
    import yaml

    from cityloop.cli.history import session_factory
    from dispatch.city.config import CityConfigError, load_city
    from dispatch.learning.proposals import merged_city, overlay_rules, proposals

    path = file or settings.city_file
    try:
        config = load_city(path)
    except CityConfigError as exc:
        click.echo(str(exc), err=True)
        return USAGE
    with session_factory(settings) as factory, factory() as db:
        rules = overlay_rules(config, proposals(db_session=db, status="accepted"))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    text = yaml.safe_dump(merged_city(data, rules), allow_unicode=True, sort_keys=False)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{output}: {len(rules)} accepted rule(s) placed before the file's own", err=True)
    return 0

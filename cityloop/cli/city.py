"""``cityloop city check [FILE]``: validate a city file (``check-config`` is the older name)."""

from __future__ import annotations

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
               f"{len(loaded.categories)} categories, {len(loaded.district_shapes)} districts, "
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

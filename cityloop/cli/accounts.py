"""Who may use CityLoop: ``users`` (people who sign in to the inbox) and ``apikeys`` (Open311 clients).

Every command here is one transaction (``unit_of_work``); a refused value (``InvalidField``)
exits 2 and something not found (``NotFound``) exits 1, each with a one-line message.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from cityloop.cli.context import USAGE, CommandFailed, OrderedGroup, unit_of_work, with_settings
from cityloop.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

ROLES = ("staff", "supervisor", "dispatcher", "admin")
NOT_FOUND = 1


@contextmanager
def account_change(settings: Settings) -> Iterator[Session]:
    """One transaction; the domain's refusals become this command's message and exit code."""
    from dispatch.core.errors import InvalidField, NotFound

    try:
        with unit_of_work(settings) as db:
            yield db
    except InvalidField as exc:
        raise CommandFailed(str(exc), USAGE) from None
    except NotFound as exc:
        raise CommandFailed(str(exc), NOT_FOUND) from None


@click.group(cls=OrderedGroup)
def users() -> None:
    """The people who sign in to the inbox."""


def _password(username: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {username}: ")
    if getpass.getpass("again: ") != first:
        raise CommandFailed("the passwords differ")
    return first


@users.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the user may see and do.")
@click.option("--agency", help="Agency code; required for staff and supervisors.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@with_settings
def add_user(settings: Settings, username: str, role: str, agency: str | None, password_stdin: bool) -> int:
    """Add a user (asks for the password twice)."""
    from cityloop.compose import dispatch_config
    from dispatch.accounts import users as service
    from dispatch.city.config import CityConfigError, load_city

    dispatch_config(settings)  # no database: say so before asking for a password
    try:
        city = load_city(settings.city_file)
    except CityConfigError as exc:
        click.echo(str(exc), err=True)
        return USAGE
    password = _password(username, password_stdin)
    with account_change(settings) as db:
        user = service.add_user(db_session=db, username=username, password=password, role=role,
                                agency=agency, city=city)
        click.echo(f"added user {user.username} ({user.role}{', ' + user.agency if user.agency else ''})")
    return 0


@users.command("list")
@click.option("--all", "everyone", is_flag=True, help="Include deactivated users.")
@with_settings
def list_users(settings: Settings, everyone: bool) -> int:
    """List the users: name, role, agency, state."""
    from sqlalchemy import select

    from dispatch.accounts.models import User

    query = select(User).order_by(User.username)
    with account_change(settings) as db:
        rows = db.scalars(query if everyone else query.where(User.active.is_(True))).all()
        for user in rows:
            click.echo(f"{user.username:<24} {user.role:<11} {user.agency or '-':<16} "
                       f"{'active' if user.active else 'deactivated'}")
    if not rows:
        click.echo("no users" if everyone else "no active users")
    return 0


@users.command("deactivate")
@click.argument("username")
@with_settings
def deactivate_user(settings: Settings, username: str) -> int:
    """Stop a user from signing in; their open sessions end at once."""
    from dispatch.accounts import users as service
    from dispatch.core.errors import NotFound

    with account_change(settings) as db:
        user = service.get_by_username(db_session=db, username=username)
        if user is None:
            raise NotFound("user", username)
        user.active = False
        click.echo(f"deactivated user {user.username}")
    return 0


@users.command("unlock")
@click.argument("username")
@with_settings
def unlock_user(settings: Settings, username: str) -> int:
    """Lift the lock-out that failed sign-ins put on an account."""
    from dispatch.accounts import users as service

    with account_change(settings) as db:
        was_locked = service.unlock(db_session=db, username=username)
    click.echo(f"unlocked user {username}" if was_locked
               else f"user {username} was not locked; failed sign-ins forgotten")
    return 0


@click.group(cls=OrderedGroup)
def apikeys() -> None:
    """The API keys of Open311 clients."""


@apikeys.command("add")
@click.argument("name")
@click.option("--rate-limit", type=int, default=60, show_default=True, help="POSTs per minute.")
@with_settings
def add_key(settings: Settings, name: str, rate_limit: int) -> int:
    """Issue a key (printed once) for a named client."""
    from dispatch.accounts import apikeys as service

    with account_change(settings) as db:
        key = service.add(db_session=db, name=name, rate_limit_per_minute=rate_limit)
    click.echo(key)
    click.echo(f"the key for {name!r} is shown only once; store it now", err=True)
    return 0


@apikeys.command("revoke")
@click.argument("name")
@with_settings
def revoke_key(settings: Settings, name: str) -> int:
    """Revoke the active key of a client (name or id)."""
    from dispatch.accounts import apikeys as service

    with account_change(settings) as db:
        key = service.revoke(db_session=db, name_or_id=name)
        click.echo(f"revoked api key {key.id} ({key.name})")
    return 0


@apikeys.command("list")
@click.option("--all", "everything", is_flag=True, help="Include revoked keys.")
@with_settings
def list_keys(settings: Settings, everything: bool) -> int:
    """List the keys: id, client, rate limit, issued (never the key)."""
    from sqlalchemy import select

    from dispatch.accounts.models import ApiKey

    query = select(ApiKey).order_by(ApiKey.name, ApiKey.id)
    with account_change(settings) as db:
        rows = db.scalars(query if everything else query.where(ApiKey.revoked_at.is_(None))).all()
        for key in rows:
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            click.echo(f"{key.id:>5}  {key.name:<32} {key.rate_limit_per_minute:>6}/min  "
                       f"issued {key.created_at:%Y-%m-%d %H:%M}  {state}")
    if not rows:
        click.echo("no api keys" if everything else "no active api keys")
    return 0

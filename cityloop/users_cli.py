"""``cityloop users add USERNAME --role R [--agency CODE] [--password-stdin]``: inbox accounts."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from cityloop.settings import Settings

ROLES = ("staff", "supervisor", "dispatcher", "admin")


def _password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.username}: ")
    if getpass.getpass("again: ") != first:
        print("cityloop users add: the passwords differ", file=sys.stderr)
        return None
    return first


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    from cityloop.compose import dispatch_config
    from dispatch import users
    from dispatch.cityconfig import CityConfigError, load_city
    from dispatch.db import make_engine, make_session_factory, transaction
    from dispatch.errors import InvalidField

    config = dispatch_config(settings)
    try:
        city = load_city(config.city_file)
    except CityConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    password = _password(args)
    if password is None:
        return 2
    engine = make_engine(config.database_url, pool_size=1)
    try:
        with transaction(make_session_factory(engine)) as db:
            user = users.add_user(db_session=db, username=args.username, password=password,
                                  role=args.role, agency=args.agency, city=city)
            print(f"added user {user.username} ({user.role}"
                  f"{', ' + user.agency if user.agency else ''})")
    except InvalidField as exc:
        print(f"cityloop users add: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``users add`` on the top-level subparsers."""
    people = sub.add_parser("users", help="manage the people who sign in to the inbox")
    actions = people.add_subparsers(dest="users_command", required=True)
    add = actions.add_parser("add", help="add a user (asks for the password twice)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--agency", help="agency code; required for staff and supervisors")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    add.set_defaults(handler=cmd_add)

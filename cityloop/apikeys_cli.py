"""``cityloop apikeys add NAME`` and ``cityloop apikeys revoke NAME``: keys for Open311 clients."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from cityloop.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@contextmanager
def _transaction(settings: Settings) -> Iterator[Session]:
    """One unit of work on a short-lived engine (imports stay out of ``cityloop --help``)."""
    from cityloop.compose import dispatch_config
    from dispatch.db import make_engine, make_session_factory, transaction

    engine = make_engine(dispatch_config(settings).database_url, pool_size=1)
    try:
        with transaction(make_session_factory(engine)) as db:
            yield db
    finally:
        engine.dispose()


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch import apikeys
    from dispatch.errors import InvalidField

    try:
        with _transaction(settings) as db:
            key = apikeys.add(db_session=db, name=args.name, rate_limit_per_minute=args.rate_limit)
    except InvalidField as exc:
        print(f"cityloop apikeys add: {exc}", file=sys.stderr)
        return 2
    print(key)
    print(f"the key for {args.name!r} is shown only once; store it now", file=sys.stderr)
    return 0


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch import apikeys
    from dispatch.errors import NotFound

    try:
        with _transaction(settings) as db:
            key = apikeys.revoke(db_session=db, name_or_id=args.name)
            print(f"revoked api key {key.id} ({key.name})")
    except NotFound as exc:
        print(f"cityloop apikeys revoke: {exc}", file=sys.stderr)
        return 1
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``apikeys add`` and ``apikeys revoke`` on the top-level subparsers."""
    keys = sub.add_parser("apikeys", help="manage API keys of Open311 clients")
    actions = keys.add_subparsers(dest="apikeys_command", required=True)
    add = actions.add_parser("add", help="issue a key (printed once) for a named client")
    add.add_argument("name")
    add.add_argument("--rate-limit", type=int, default=60, help="POSTs per minute (default 60)")
    add.set_defaults(handler=cmd_add)
    revoke = actions.add_parser("revoke", help="revoke the active key of a client (name or id)")
    revoke.add_argument("name")
    revoke.set_defaults(handler=cmd_revoke)

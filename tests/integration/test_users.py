"""Accounts: argon2 hashes, the rules for roles and agencies, the sign-in throttle, and
``cityloop users add``."""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from cityloop import users_cli
from cityloop.settings import load_settings
from dispatch.accounts import users
from dispatch.accounts.models import LoginFailure, User
from dispatch.city.config import load_city
from dispatch.core.db import make_engine, make_session_factory
from dispatch.core.errors import InvalidField
from tests.conftest import SAMPLE_CITY

PASSWORD = "a long enough password"


@pytest.fixture()
def factory(migrated_db: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(migrated_db, pool_size=1)
    with engine.begin() as conn:
        conn.execute(delete(User).where(User.username.like("u-%")))
        conn.execute(delete(LoginFailure).where(LoginFailure.username.like("u-%")))
    yield make_session_factory(engine)
    engine.dispose()


def test_add_user_stores_an_argon2_hash_and_checks_the_rules(
        factory: sessionmaker[Session]) -> None:
    city = load_city(SAMPLE_CITY)
    with factory() as db, db.begin():
        user = users.add_user(db_session=db, username="U-Ann", password=PASSWORD, role="staff",
                              agency="landscaping", city=city)
        assert user.username == "u-ann" and user.active
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        assert users.get(db_session=db, user_id=user.id) is user
    bad = [({"username": "u-ann"}, "username"), ({"password": "short"}, "password"),
           ({"role": "mayor"}, "role"), ({"agency": None}, "agency"),
           ({"agency": "ghostbusters"}, "agency"),
           ({"role": "dispatcher", "agency": "landscaping"}, "agency"),
           ({"username": "no spaces"}, "username")]
    for change, field in bad:
        args = {"username": "u-bob", "password": PASSWORD, "role": "staff",
                "agency": "landscaping", **change}
        with factory() as db, db.begin(), pytest.raises(InvalidField) as err:
            users.add_user(db_session=db, city=city, **args)  # type: ignore[arg-type]
        assert err.value.field == field, change


def test_authenticate_counts_failures_and_throttles(factory: sessionmaker[Session]) -> None:
    with factory() as db, db.begin():
        users.add_user(db_session=db, username="u-cy", password=PASSWORD, role="dispatcher")
    now = datetime.now(UTC)

    def attempt(password: str, address: str = "10.0.0.1",
                at: datetime = now) -> User | None:
        with factory() as db, db.begin():
            return users.authenticate(db_session=db, username="u-cy", password=password,
                                      address=address, now=at)

    assert attempt(PASSWORD) is not None
    for _ in range(users.MAX_FAILURES):
        assert attempt("wrong password") is None
    with pytest.raises(users.TooManyAttempts):
        attempt(PASSWORD)
    assert attempt(PASSWORD, address="10.0.0.2") is not None  # another address is not blocked
    assert attempt(PASSWORD, at=now + users.FAILURE_WINDOW + timedelta(seconds=1)) is not None
    with factory() as db, db.begin():
        db.execute(select(User).where(User.username == "u-cy")).scalar_one().active = False
    assert attempt(PASSWORD, address="10.0.0.3") is None  # a deactivated user cannot sign in
    with factory() as db:  # unknown users fail like wrong passwords
        assert users.authenticate(db_session=db, username="u-nobody", password=PASSWORD,
                                  address="10.0.0.1") is None


def test_cli_adds_a_user(migrated_db: str, broker_url: str, factory: sessionmaker[Session],
                         monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    users_cli.add_parsers(parser.add_subparsers(dest="command"))
    settings = load_settings(database_url=migrated_db, broker_url=broker_url)
    argv = ["users", "add", "u-dee", "--role", "supervisor", "--agency", "drainage",
            "--password-stdin"]
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    args = parser.parse_args(argv)
    assert args.handler(args, settings) == 0
    assert "added user u-dee (supervisor, drainage)" in capsys.readouterr().out
    with factory() as db:
        assert users.authenticate(db_session=db, username="u-dee", password=PASSWORD,
                                  address="cli") is not None
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    args = parser.parse_args(["users", "add", "u-eve", "--role", "staff", "--password-stdin"])
    assert args.handler(args, settings) == 2
    assert "agency" in capsys.readouterr().err


def test_parallel_guesses_are_throttled_like_sequential_ones(migrated_db: str,
                                                              factory: sessionmaker[Session]) -> None:
    """Without a lock, N requests at once all count the same failures and get N guesses."""
    import threading

    with factory() as db, db.begin():
        users.add_user(db_session=db, username="u-dee", password=PASSWORD, role="dispatcher")
    engine = make_engine(migrated_db, pool_size=12)
    parallel = make_session_factory(engine)
    outcomes: list[str] = []
    start = threading.Barrier(12)

    def guess(n: int) -> None:
        start.wait()
        try:
            with parallel() as db, db.begin():
                user = users.authenticate(db_session=db, username="u-dee", password=f"guess {n}",
                                          address="10.0.0.9")
            outcomes.append("wrong" if user is None else "in")
        except users.TooManyAttempts:
            outcomes.append("throttled")

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert outcomes.count("wrong") == users.MAX_FAILURES
    assert outcomes.count("throttled") == 12 - users.MAX_FAILURES
    with factory() as db:  # failures past their window are purged when a new one is counted
        db.add(LoginFailure(username="u-dee", address="10.0.0.8",
                            at=datetime.now(UTC) - users.FAILURE_WINDOW - timedelta(minutes=1)))
        db.commit()
    with factory() as db, db.begin():
        assert users.authenticate(db_session=db, username="u-dee", password="nope",
                                  address="10.0.0.8") is None
    with factory() as db:
        kept = db.scalars(select(LoginFailure.at).where(LoginFailure.username == "u-dee",
                                                        LoginFailure.address == "10.0.0.8")).all()
        assert len(kept) == 1

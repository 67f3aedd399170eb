"""Accounts: argon2 hashes, the rules for roles and agencies, the sign-in throttle, and
``cityloop users`` / ``cityloop apikeys``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from cityloop.cli import cityloop
from cityloop.endpoints import Endpoints, record
from dispatch.accounts import users
from dispatch.accounts.models import ApiKey, LoginThrottle, User
from dispatch.city.config import load_city
from dispatch.core.db import make_engine, make_session_factory
from dispatch.core.errors import InvalidField
from tests.helpers.config import SAMPLE_CITY

PASSWORD = "a long enough password"


@pytest.fixture()
def factory(migrated_db: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(migrated_db, pool_size=1)
    with engine.begin() as conn:
        conn.execute(delete(User).where(User.username.like("u-%")))
        conn.execute(delete(LoginThrottle))
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
    with pytest.raises(users.TooManyAttempts):  # the account is locked from every address
        attempt(PASSWORD, address="10.0.0.2")
    assert attempt(PASSWORD, at=now + users.LOCKOUT + timedelta(seconds=1)) is not None
    with factory() as db, db.begin():
        db.execute(select(User).where(User.username == "u-cy")).scalar_one().active = False
    assert attempt(PASSWORD, address="10.0.0.3") is None  # a deactivated user cannot sign in
    with factory() as db:  # unknown users fail like wrong passwords
        assert users.authenticate(db_session=db, username="u-nobody", password=PASSWORD,
                                  address="10.0.0.1") is None


@pytest.fixture()
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run ``cityloop ...`` in-process with no cityloop.yaml and a data folder of its own."""
    for name in ("DATABASE_URL", "BROKER_URL", "CITY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CITYLOOP_CONFIG", str(tmp_path / "absent.yaml"))
    monkeypatch.setenv("EMBEDDED__DATA_DIR", str(tmp_path / "var"))

    def run(*args: str, input: str | None = None, **env: str) -> Result:
        return CliRunner().invoke(cityloop, list(args), input=input, env=env, prog_name="cityloop")

    return run


def test_cli_adds_a_user(migrated_db: str, broker_url: str, factory: sessionmaker[Session],
                         cli: Callable[..., Result]) -> None:
    urls = {"DATABASE_URL": migrated_db, "BROKER_URL": broker_url}
    done = cli("users", "add", "u-dee", "--role", "supervisor", "--agency", "drainage", "--password-stdin",
               input=PASSWORD + "\n", **urls)
    assert done.exit_code == 0, done.output
    assert "added user u-dee (supervisor, drainage)" in done.stdout
    with factory() as db:
        assert users.authenticate(db_session=db, username="u-dee", password=PASSWORD,
                                  address="cli") is not None
    done = cli("users", "add", "u-eve", "--role", "staff", "--password-stdin", input=PASSWORD + "\n", **urls)
    assert done.exit_code == 2
    assert done.stderr.startswith("cityloop users add: agency:")


def test_cli_lists_and_deactivates_users(migrated_db: str, broker_url: str, factory: sessionmaker[Session],
                                         cli: Callable[..., Result]) -> None:
    urls = {"DATABASE_URL": migrated_db, "BROKER_URL": broker_url}
    with factory() as db, db.begin():
        users.add_user(db_session=db, username="u-fay", password=PASSWORD, role="dispatcher")
    listed = cli("users", "list", **urls)
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if line.startswith("u-fay "))
    assert row.split() == ["u-fay", "dispatcher", "-", "active"]
    assert cli("users", "deactivate", "U-Fay", **urls).stdout == "deactivated user u-fay\n"
    with factory() as db:
        assert users.authenticate(db_session=db, username="u-fay", password=PASSWORD, address="cli") is None
    assert "u-fay " not in cli("users", "list", **urls).stdout
    assert "u-fay " in cli("users", "list", "--all", **urls).stdout
    missing = cli("users", "deactivate", "u-nobody", **urls)
    assert missing.exit_code == 1 and "u-nobody" in missing.stderr


def test_cli_issues_lists_and_revokes_api_keys(migrated_db: str, broker_url: str,
                                               cli: Callable[..., Result]) -> None:
    urls = {"DATABASE_URL": migrated_db, "BROKER_URL": broker_url}
    engine = make_engine(migrated_db, pool_size=1)
    with engine.begin() as conn:
        conn.execute(delete(ApiKey).where(ApiKey.name.like("u-%")))
    engine.dispose()
    added = cli("apikeys", "add", "u-app", "--rate-limit", "5", **urls)
    assert added.exit_code == 0, added.output
    key = added.stdout.strip()
    assert key.startswith("cl_") and "shown only once" in added.stderr
    listed = cli("apikeys", "list", **urls)
    row = next(line for line in listed.stdout.splitlines() if " u-app " in line)
    assert "5/min" in row and "active" in row and key not in listed.stdout
    again = cli("apikeys", "add", "u-app", **urls)
    assert again.exit_code == 2 and "revoke it first" in again.stderr
    revoked = cli("apikeys", "revoke", "u-app", **urls)
    assert revoked.exit_code == 0 and revoked.stdout.startswith("revoked api key ")
    assert " u-app " not in cli("apikeys", "list", **urls).stdout
    assert "revoked" in cli("apikeys", "list", "--all", **urls).stdout
    assert cli("apikeys", "revoke", "u-app", **urls).exit_code == 1


def test_cli_uses_a_running_up_when_no_url_is_set(migrated_db: str, broker_url: str, tmp_path: Path,
                                                   factory: sessionmaker[Session],
                                                   cli: Callable[..., Result]) -> None:
    """With nothing set, the commands find the servers of the `cityloop up` running here."""
    done = cli("users", "add", "u-gus", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    assert done.exit_code == 2 and "DATABASE_URL and BROKER_URL must be set" in done.stderr
    record(tmp_path / "var" / "endpoints.json",
           Endpoints(database_url=migrated_db, broker_url=broker_url, llm_base_url="", llm_model="m",
                     pid=os.getpid()))
    done = cli("users", "add", "u-gus", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    assert done.exit_code == 0, done.output
    with factory() as db:
        assert users.get_by_username(db_session=db, username="u-gus") is not None


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
    with factory() as db:  # rows past their window are pruned when a new failure is counted
        db.add(LoginThrottle(key="address:10.0.0.8", failures=3, locked_until=None,
                             window_start=datetime.now(UTC) - users.FAILURE_WINDOW
                             - timedelta(minutes=1)))
        db.commit()
    with factory() as db, db.begin():
        assert users.authenticate(db_session=db, username="u-nobody", password="nope",
                                  address="10.0.0.7") is None
    with factory() as db:
        assert db.get(LoginThrottle, "address:10.0.0.8") is None

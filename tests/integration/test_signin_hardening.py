"""Sign-in that holds (issue 16): X-Forwarded-For counts only from a listed proxy, an
account is locked from every address after repeated failures until it waits or an admin
unlocks it, an address is limited whatever the usernames, and the throttle's table stays
small under password spraying."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.config import ApiConfig
from cityloop.cli import cityloop
from dispatch.accounts import throttle, users
from dispatch.accounts.models import LoginThrottle
from dispatch.core.runtime import get_runtime
from tests.helpers.config import DOWN_LLM, SAMPLE_CITY, make_dispatch_config
from tests.helpers.webauth import PASSWORD, csrf_of, ensure_user

PROXY = "10.9.9.9"


def make_client(migrated_db: str, broker_url: str, trusted: list[str]) -> TestClient:
    config = ApiConfig(dispatch=make_dispatch_config(migrated_db, broker_url, DOWN_LLM),
                       trusted_proxies=trusted)
    return TestClient(create_app(config), client=(PROXY, 50000))


@pytest.fixture()
def direct(migrated_db: str, broker_url: str, clean_state: None) -> Iterator[TestClient]:
    """The app with no trusted proxy (the default), reached from PROXY."""
    with make_client(migrated_db, broker_url, []) as client:
        yield client


@pytest.fixture()
def proxied(migrated_db: str, broker_url: str, clean_state: None) -> Iterator[TestClient]:
    """The app behind a trusted reverse proxy at PROXY."""
    with make_client(migrated_db, broker_url, [PROXY]) as client:
        yield client


def sign_in(client: TestClient, username: str, password: str, forwarded_for: str | None = None
            ) -> Any:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    form = client.get("/login", headers=headers)
    return client.post("/login", headers=headers, follow_redirects=False, data={
        "username": username, "password": password, "csrf_token": csrf_of(form.text)})


def throttle_keys() -> set[str]:
    with get_runtime().factory() as db:
        return set(db.scalars(select(LoginThrottle.key)))


def test_forwarded_for_is_ignored_from_a_client_that_is_not_a_listed_proxy(
        direct: TestClient) -> None:
    ensure_user("ada", "dispatcher")
    answers = [sign_in(direct, "ada", "wrong password", f"198.51.100.{n}").status_code
               for n in range(1, 8)]
    assert answers == [401] * throttle.MAX_FAILURES + [429] * (7 - throttle.MAX_FAILURES)
    assert throttle_keys() == {"account:ada", f"address:{PROXY}"}


def test_a_listed_proxy_names_the_client(proxied: TestClient) -> None:
    ensure_user("ada", "dispatcher")
    assert sign_in(proxied, "ada", "wrong password", "198.51.100.7").status_code == 401
    assert "address:198.51.100.7" in throttle_keys()
    assert f"address:{PROXY}" not in throttle_keys()


def test_a_locked_account_stays_locked_from_a_new_address_until_an_admin_unlocks_it(
        proxied: TestClient, cli: Callable[..., Result]) -> None:
    ensure_user("ada", "dispatcher")
    for n in range(throttle.MAX_FAILURES):
        assert sign_in(proxied, "ada", "wrong password", f"198.51.100.{n}").status_code == 401
    locked = sign_in(proxied, "ada", "wrong password", "203.0.113.1")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 60
    right = sign_in(proxied, "ada", PASSWORD, "203.0.113.2")  # the right password, elsewhere
    assert right.status_code == 429, right.text
    assert "admin can unlock" in right.text
    done = cli("users", "unlock", "ada")
    assert done.exit_code == 0, done.output
    assert "unlocked user ada" in done.output
    assert sign_in(proxied, "ada", PASSWORD, "203.0.113.2").status_code == 303
    assert cli("users", "unlock", "nobody-here").exit_code == 1


def test_an_address_is_limited_whatever_the_usernames(proxied: TestClient) -> None:
    answers = [sign_in(proxied, f"guess-{n}", "Winter2026!", "198.51.100.50").status_code
               for n in range(throttle.MAX_ADDRESS_FAILURES + 2)]
    assert answers == [401] * throttle.MAX_ADDRESS_FAILURES + [429, 429]
    assert sign_in(proxied, "guess-0", "Winter2026!", "198.51.100.51").status_code == 401


def test_password_spraying_leaves_a_small_table(migrated_db: str, clean_state: None,
                                                 direct: TestClient) -> None:
    """One row per account and per address, pruned after the window, and each address stops
    adding accounts at its limit: 600 tries from 6 addresses leave at most 6 x 21 rows."""
    tries, refused = 600, 0
    for n in range(tries):
        try:
            with get_runtime().factory() as db, db.begin():
                users.authenticate(db_session=db, username=f"user{n}", password="Spring2026!",
                                   address=f"192.0.2.{n % 6}")
        except users.TooManyAttempts:
            refused += 1
    with get_runtime().factory() as db:
        rows = int(db.scalar(select(func.count()).select_from(LoginThrottle)) or 0)
    assert rows <= 6 * (throttle.MAX_ADDRESS_FAILURES + 1)
    assert refused == tries - 6 * throttle.MAX_ADDRESS_FAILURES


@pytest.fixture()
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated_db: str,
        broker_url: str) -> Callable[..., Result]:
    """``cityloop ...`` in-process against the test database."""
    monkeypatch.setenv("CITYLOOP_CONFIG", str(tmp_path / "absent.yaml"))
    monkeypatch.setenv("EMBEDDED__DATA_DIR", str(tmp_path / "var"))
    env = {"DATABASE_URL": migrated_db, "BROKER_URL": broker_url, "CITY_FILE": str(SAMPLE_CITY)}

    def run(*args: str) -> Result:
        return CliRunner().invoke(cityloop, list(args), env=env, prog_name="cityloop")

    return run


def test_cityloop_api_leaves_proxy_headers_to_the_app(monkeypatch: pytest.MonkeyPatch,
                                                      cli: Callable[..., Result]) -> None:
    """uvicorn's own default believes X-Forwarded-For from 127.0.0.1."""
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    done = cli("api")
    assert done.exit_code == 0, done.output
    assert seen["proxy_headers"] is False

"""People who sign in to the inbox: accounts, argon2 passwords, and a sign-in throttle.

Staff and supervisors belong to one agency; dispatchers and admins see every agency.
The caller owns the transaction.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from dispatch.accounts.models import LoginFailure, User
from dispatch.city.config import CityConfig
from dispatch.core.errors import InvalidField, NotFound

Role = Literal["staff", "supervisor", "dispatcher", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
AGENCY_ROLES = ("staff", "supervisor")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{1,63}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 1024
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=5)

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so that both cases take as long."""
    return _hasher.hash("not a password anyone has")


class TooManyAttempts(Exception):
    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"too many failed sign-ins; try again in {retry_after_s} seconds")


def _check(*, username: str, password: str, role: str, agency: str | None,
           city: CityConfig | None) -> None:
    if not USERNAME.match(username):
        raise InvalidField("username", "2 to 64 characters: lowercase letters, digits, _ . @ -")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidField("password", f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if role not in ROLES:
        raise InvalidField("role", f"unknown role {role!r}; known: {', '.join(ROLES)}")
    if role in AGENCY_ROLES and not agency:
        raise InvalidField("agency", f"an agency code is required for the role {role!r}")
    if role not in AGENCY_ROLES and agency:
        raise InvalidField("agency", f"the role {role!r} sees every agency; give no agency")
    if agency and city is not None and city.agency(agency) is None:
        known = ", ".join(a.code for a in city.agencies)
        raise InvalidField("agency", f"unknown agency {agency!r}; known: {known}")


def add_user(*, db_session: Session, username: str, password: str, role: str,
             agency: str | None = None, city: CityConfig | None = None) -> User:
    """Create an active user; the agency is checked against the city when one is given."""
    username = username.strip().lower()
    _check(username=username, password=password, role=role, agency=agency, city=city)
    if db_session.scalar(select(User.id).where(User.username == username)) is not None:
        raise InvalidField("username", f"a user named {username!r} exists")
    user = User(username=username, password_hash=_hasher.hash(password), role=role,
                agency=agency, active=True)
    db_session.add(user)
    db_session.flush()
    return user


def get(*, db_session: Session, user_id: int) -> User:
    user = db_session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


def get_by_username(*, db_session: Session, username: str) -> User | None:
    return db_session.scalar(select(User).where(User.username == username.strip().lower()))


def _recent_failures(*, db_session: Session, username: str, address: str,
                     now: datetime) -> list[datetime]:
    return list(db_session.scalars(
        select(LoginFailure.at).where(
            LoginFailure.username == username, LoginFailure.address == address,
            LoginFailure.at > now - FAILURE_WINDOW).order_by(LoginFailure.at)))


def authenticate(*, db_session: Session, username: str, password: str, address: str,
                 now: datetime | None = None) -> User | None:
    """The active user with this password, else None (the failure is counted).

    Raises TooManyAttempts after MAX_FAILURES failures for this username and address
    within FAILURE_WINDOW, before the password is even checked.
    """
    moment = now or datetime.now(UTC)
    username = username.strip().lower()[:64]
    address = address[:64]
    # One sign-in at a time per username and address, until the caller's transaction ends:
    # otherwise N parallel requests all count the same failures and get N guesses, not 5.
    db_session.execute(select(func.pg_advisory_xact_lock(
        func.hashtextextended(f"login:{username}|{address}", 0))))
    failures = _recent_failures(db_session=db_session, username=username, address=address,
                                now=moment)
    if len(failures) >= MAX_FAILURES:
        retry = failures[-MAX_FAILURES] + FAILURE_WINDOW - moment
        raise TooManyAttempts(max(1, int(retry.total_seconds()) + 1))
    user = get_by_username(db_session=db_session, username=username)
    if not _verify(user.password_hash if user else _dummy_hash(), password) or user is None \
            or not user.active:
        db_session.execute(delete(LoginFailure).where(  # the expired ones: the table stays small
            LoginFailure.username == username, LoginFailure.address == address,
            LoginFailure.at <= moment - FAILURE_WINDOW))
        db_session.add(LoginFailure(username=username, address=address, at=moment))
        db_session.flush()
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    db_session.execute(delete(LoginFailure).where(
        LoginFailure.username == username, LoginFailure.address == address))
    return user


def _verify(password_hash: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False

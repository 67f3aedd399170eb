"""People who sign in to the inbox: accounts, argon2 passwords, and a sign-in throttle.

Staff and supervisors belong to one agency; dispatchers and admins see every agency.
The caller owns the transaction.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.accounts import throttle
from dispatch.accounts.models import User
from dispatch.accounts.throttle import FAILURE_WINDOW, LOCKOUT, MAX_FAILURES, TooManyAttempts
from dispatch.city.config import CityConfig
from dispatch.core.errors import InvalidField, NotFound

Role = Literal["staff", "supervisor", "dispatcher", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
AGENCY_ROLES = ("staff", "supervisor")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{1,63}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 1024
__all__ = ["FAILURE_WINDOW", "LOCKOUT", "MAX_FAILURES", "TooManyAttempts", "authenticate"]

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so that both cases take as long."""
    return _hasher.hash("not a password anyone has")


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


def set_language(*, db_session: Session, user_id: int, language: str | None) -> User:
    """The language of the user's pages: one with a catalog, or None for the city's default
    (then the browser's)."""
    from dispatch import i18n

    if language is not None and i18n.supported(language) != language:
        raise InvalidField("language", f"must be one of {', '.join(i18n.LANGUAGES)} or empty")
    user = get(db_session=db_session, user_id=user_id)
    user.language = language
    return user


def get_by_username(*, db_session: Session, username: str) -> User | None:
    return db_session.scalar(select(User).where(User.username == username.strip().lower()))


def authenticate(*, db_session: Session, username: str, password: str, address: str,
                 now: datetime | None = None) -> User | None:
    """The active user with this password, else None (the failure is counted).

    Raises TooManyAttempts, before the password is even checked, while the account is
    locked (``MAX_FAILURES`` failures from any address) or the address is over its limit
    (see ``dispatch.accounts.throttle``).
    """
    moment = now or datetime.now(UTC)
    username = username.strip().lower()[:64]
    throttle.lock_keys(db_session=db_session, username=username, address=address)
    throttle.check(db_session=db_session, username=username, address=address, now=moment)
    user = get_by_username(db_session=db_session, username=username)
    if not _verify(user.password_hash if user else _dummy_hash(), password) or user is None \
            or not user.active:
        throttle.record_failure(db_session=db_session, username=username, address=address,
                                now=moment)
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    throttle.unlock(db_session=db_session, username=username, now=moment)
    return user


def unlock(*, db_session: Session, username: str, now: datetime | None = None) -> bool:
    """An admin lifts the account's lock-out; True when it was locked. NotFound for an
    unknown user."""
    if get_by_username(db_session=db_session, username=username) is None:
        raise NotFound("user", username)
    return throttle.unlock(db_session=db_session, username=username,
                           now=now or datetime.now(UTC))


def _verify(password_hash: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False

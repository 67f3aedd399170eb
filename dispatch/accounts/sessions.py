"""Signed-in browsers: a random cookie value whose SHA-256 is stored with a CSRF token.

A session ends at logout, at its expiry, or as soon as its user is deactivated.
The caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dispatch.accounts.models import User, WebSession

LIFETIME = timedelta(hours=12)
MAX_TOKEN_LENGTH = 100


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(*, db_session: Session, user: User, now: datetime | None = None) -> str:
    """A new session for ``user``; returns the cookie value (only its hash is stored)."""
    moment = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    db_session.execute(delete(WebSession).where(WebSession.expires_at < moment))
    db_session.add(WebSession(token_hash=_hash(token), user_id=user.id,
                              csrf_token=secrets.token_urlsafe(32), expires_at=moment + LIFETIME))
    db_session.flush()
    return token


def lookup(*, db_session: Session, token: str | None,
           now: datetime | None = None) -> WebSession | None:
    """The live session of an active user for this cookie value, else None."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    session = db_session.scalar(select(WebSession).where(WebSession.token_hash == _hash(token)))
    if session is None or session.expires_at <= (now or datetime.now(UTC)):
        return None
    return session if session.user.active else None


def end(*, db_session: Session, token: str | None) -> None:
    if token and len(token) <= MAX_TOKEN_LENGTH:
        db_session.execute(delete(WebSession).where(WebSession.token_hash == _hash(token)))

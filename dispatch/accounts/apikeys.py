"""API keys for Open311 clients: issue, revoke, verify, and a per-key fixed-window rate limit.

Only the SHA-256 of a key is stored; the plaintext is shown once, when it is added.
The caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from dispatch.accounts.models import ApiKey
from dispatch.core.errors import InvalidField, NotFound

KEY_PREFIX = "cl_"
MAX_KEY_LENGTH = 200


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _active_named(*, db_session: Session, name: str) -> ApiKey | None:
    return db_session.scalar(
        select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)))


def add(*, db_session: Session, name: str, rate_limit_per_minute: int = 60) -> str:
    """Store a new key for ``name`` and return its plaintext (it is not stored)."""
    name = name.strip()
    if not 1 <= len(name) <= 120:
        raise InvalidField("name", "must be 1 to 120 characters")
    if not 1 <= rate_limit_per_minute <= 100_000:
        raise InvalidField("rate_limit_per_minute", "must be between 1 and 100000")
    if _active_named(db_session=db_session, name=name) is not None:
        raise InvalidField("name", f"an active key named {name!r} exists; revoke it first")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    db_session.add(ApiKey(name=name, key_hash=hash_key(key),
                          rate_limit_per_minute=rate_limit_per_minute))
    db_session.flush()
    return key


def revoke(*, db_session: Session, name_or_id: str) -> ApiKey:
    """Revoke the active key with this name, or the key with this numeric id."""
    key = (db_session.get(ApiKey, int(name_or_id)) if name_or_id.isdigit()
           else _active_named(db_session=db_session, name=name_or_id))
    if key is None or key.revoked_at is not None:
        raise NotFound("active api key", name_or_id)
    key.revoked_at = datetime.now(UTC)
    db_session.flush()
    return key


def verify(*, db_session: Session, key: str | None) -> ApiKey | None:
    """The active key matching ``key``, else None."""
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    return db_session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)))


def consume(*, db_session: Session, key_id: int, now: datetime | None = None) -> tuple[bool, int]:
    """Count one call in the key's current minute; (allowed, seconds until the window resets).

    One atomic UPDATE in PostgreSQL, so every API process shares the count.
    """
    moment = now or datetime.now(UTC)
    window = moment.replace(second=0, microsecond=0)
    same_window = ApiKey.rate_window_start == window
    row = db_session.execute(
        update(ApiKey).where(ApiKey.id == key_id)
        .values(rate_window_count=case((same_window, ApiKey.rate_window_count + 1), else_=1),
                rate_window_start=window)
        .returning(ApiKey.rate_window_count, ApiKey.rate_limit_per_minute)
        .execution_options(synchronize_session=False)
    ).one()
    count, limit = row
    return count <= limit, 60 - moment.second

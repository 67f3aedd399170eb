"""The sign-in throttle: failures limited per account, whatever the address, and per address,
whatever the account. The caller owns the transaction.

- An account with ``MAX_FAILURES`` failures within ``FAILURE_WINDOW`` is locked for
  ``LOCKOUT`` from any address, the right password included; an admin lifts it
  (``cityloop users unlock NAME``). Unknown usernames count the same way, so a lock does not
  tell which accounts exist.
- An address with ``MAX_ADDRESS_FAILURES`` failures within the window (any usernames:
  password spraying) is refused until its window ends.

One row per account and per address, not per failure, and rows past their window are pruned
at every failure: the table holds at most the keys that failed in the last window, and an
address can add at most ``MAX_ADDRESS_FAILURES`` account keys to it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from dispatch.accounts.models import LoginThrottle

MAX_FAILURES = 5
MAX_ADDRESS_FAILURES = 20
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = FAILURE_WINDOW


class TooManyAttempts(Exception):
    def __init__(self, retry_after_s: int, *, account: bool) -> None:
        self.retry_after_s = retry_after_s
        self.account = account
        who = ("for this account (an admin can unlock it)" if account
               else "from your address")
        super().__init__(f"too many failed sign-ins {who}; try again in {retry_after_s} seconds")


def account_key(username: str) -> str:
    return f"account:{username.strip().lower()[:64]}"


def address_key(address: str) -> str:
    return f"address:{address[:64]}"


def lock_keys(*, db_session: Session, username: str, address: str) -> None:
    """One sign-in at a time per account and per address until the transaction ends (always
    in this order): otherwise N parallel tries all read the same count and get N guesses."""
    for key in (account_key(username), address_key(address)):
        db_session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


def _seconds(until: datetime, now: datetime) -> int:
    return max(1, int((until - now).total_seconds()) + 1)


def check(*, db_session: Session, username: str, address: str, now: datetime) -> None:
    """Raise TooManyAttempts while the address is over its limit or the account is locked."""
    by_address = db_session.get(LoginThrottle, address_key(address))
    if by_address is not None and by_address.window_start > now - FAILURE_WINDOW \
            and by_address.failures >= MAX_ADDRESS_FAILURES:
        raise TooManyAttempts(_seconds(by_address.window_start + FAILURE_WINDOW, now),
                              account=False)
    by_account = db_session.get(LoginThrottle, account_key(username))
    if by_account is not None and by_account.locked_until is not None \
            and by_account.locked_until > now:
        raise TooManyAttempts(_seconds(by_account.locked_until, now), account=True)


def _count(db_session: Session, key: str, now: datetime, limit: int | None) -> None:
    row = db_session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_start=now, locked_until=None)
        db_session.add(row)
    elif row.window_start <= now - FAILURE_WINDOW:  # a new window
        row.failures, row.window_start, row.locked_until = 0, now, None
    row.failures += 1
    if limit is not None and row.failures >= limit:
        row.locked_until = now + LOCKOUT


def record_failure(*, db_session: Session, username: str, address: str, now: datetime) -> None:
    prune(db_session=db_session, now=now)
    _count(db_session, account_key(username), now, MAX_FAILURES)
    _count(db_session, address_key(address), now, None)
    db_session.flush()


def prune(*, db_session: Session, now: datetime) -> int:
    """Delete the rows whose window has passed and that lock nothing any more."""
    result = db_session.execute(delete(LoginThrottle).where(
        LoginThrottle.window_start <= now - FAILURE_WINDOW,
        or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now)))
    return int(getattr(result, "rowcount", 0) or 0)


def unlock(*, db_session: Session, username: str, now: datetime) -> bool:
    """Forget the account's failures (a sign-in, or an admin); True when it was locked."""
    row = db_session.get(LoginThrottle, account_key(username))
    if row is None:
        return False
    was_locked = row.locked_until is not None and row.locked_until > now
    db_session.delete(row)
    db_session.flush()
    return was_locked

"""Counting a task's failures per item, quarantining the item at the limit, and what
dispatchers do with it. The caller owns the transaction.

Only final failures count: an error the task retries by itself (the database or the broker
away) is counted once, when its retries run out. An event that is quarantined is marked
``failed`` (the sweeper re-sends only ``received`` ones); incidents and tickets have no such
state, so the sweeper leaves out the ones quarantined here (``quarantined``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, case, cast, delete, exists, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dispatch.core.errors import DispatchError, NotFound
from dispatch.core.queues import DELIVER_TASK, ROUTE_TASK, UNDERSTAND_TASK
from dispatch.intake.models import Event
from dispatch.quarantine.models import QuarantinedItem

FAILURES_BEFORE_QUARANTINE = 3
MAX_ERROR_CHARS = 2000
GUARDED_TASKS = (UNDERSTAND_TASK, ROUTE_TASK, DELIVER_TASK)
WHAT = {UNDERSTAND_TASK: "event", ROUTE_TASK: "incident", DELIVER_TASK: "ticket"}
"""What kind of item each guarded task works on (for the dispatchers' page)."""


class AlreadyDiscarded(DispatchError):
    pass


def describe(exc: BaseException) -> str:
    """``DataError: year 0 is out of range``, cut to a size a page can show."""
    return f"{type(exc).__name__}: {exc}".replace("\x00", "")[:MAX_ERROR_CHARS]


def _event_id(item: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(item)
    except ValueError:
        return None


def record_failure(*, db_session: Session, task: str, item: str, error: str,
                   limit: int = FAILURES_BEFORE_QUARANTINE) -> bool:
    """Count one failure; True when this one put the item in quarantine (its event, for
    ``understand_event``, becomes ``failed``)."""
    now = datetime.now(UTC)
    column = QuarantinedItem.__table__.c
    failures = column.failures + 1
    upsert = insert(QuarantinedItem).values(
        task=task, item=item, failures=1, error=error, first_failed_at=now, last_failed_at=now,
        quarantined_at=now if limit <= 1 else None)
    stmt = upsert.on_conflict_do_update(
        index_elements=[column.task, column.item],
        set_={"failures": failures, "error": error, "last_failed_at": now,
              "quarantined_at": case((column.quarantined_at.is_(None) & (failures >= limit), now),
                                     else_=column.quarantined_at)},
    ).returning(column.failures)
    count = int(db_session.execute(stmt).scalar_one())
    newly = count == max(limit, 1)
    if newly and task == UNDERSTAND_TASK and (event_id := _event_id(item)) is not None:
        db_session.execute(update(Event).where(Event.id == event_id, Event.status == "received")
                           .values(status="failed"))
    return newly


def failures_of(*, db_session: Session, task: str, item: str) -> QuarantinedItem | None:
    return db_session.scalar(select(QuarantinedItem).where(
        QuarantinedItem.task == task, QuarantinedItem.item == item))


def clear(*, db_session: Session, task: str, item: str) -> None:
    """The task succeeded on the item: its count starts again from nothing."""
    db_session.execute(delete(QuarantinedItem).where(
        QuarantinedItem.task == task, QuarantinedItem.item == item))


def quarantined(task: str, key: Any) -> ColumnElement[bool]:
    """For the sweeper's queries: the row ``key`` (an id column) is quarantined for ``task``."""
    return exists().where(QuarantinedItem.task == task,
                          QuarantinedItem.item == cast(key, String),
                          QuarantinedItem.quarantined_at.is_not(None))


def list_quarantined(*, db_session: Session, include_discarded: bool = False,
                     limit: int = 200) -> list[QuarantinedItem]:
    """Newest first."""
    stmt = select(QuarantinedItem).where(QuarantinedItem.quarantined_at.is_not(None))
    if not include_discarded:
        stmt = stmt.where(QuarantinedItem.discarded_at.is_(None))
    return list(db_session.scalars(stmt.order_by(QuarantinedItem.quarantined_at.desc(),
                                                 QuarantinedItem.id.desc()).limit(limit)))


def _locked(db_session: Session, quarantine_id: int) -> QuarantinedItem:
    row = db_session.scalar(select(QuarantinedItem).where(
        QuarantinedItem.id == quarantine_id, QuarantinedItem.quarantined_at.is_not(None))
        .with_for_update())
    if row is None:
        raise NotFound("quarantined item", quarantine_id)
    return row


def release(*, db_session: Session, quarantine_id: int) -> tuple[str, str]:
    """Take the item out of quarantine (its event back to ``received``); returns (task,
    item) to send again after the commit."""
    row = _locked(db_session, quarantine_id)
    task, item = row.task, row.item
    if task == UNDERSTAND_TASK and (event_id := _event_id(item)) is not None:
        db_session.execute(update(Event).where(Event.id == event_id, Event.status == "failed")
                           .values(status="received"))
    db_session.delete(row)
    db_session.flush()
    return task, item


def discard(*, db_session: Session, quarantine_id: int, actor: str) -> QuarantinedItem:
    """Leave the item for good: it stays failed and out of the queues, marked as seen."""
    row = _locked(db_session, quarantine_id)
    if row.discarded_at is not None:
        raise AlreadyDiscarded(f"quarantined item {row.id} was already discarded by "
                               f"{row.discarded_by}")
    row.discarded_at, row.discarded_by = datetime.now(UTC), actor
    db_session.flush()
    return row

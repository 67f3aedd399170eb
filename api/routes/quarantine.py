"""Quarantined work over JSON: events, incidents and tickets a task failed on again and
again, kept out of the queues (``dispatch.quarantine``); a retry or a discard of each.

Beside the failed deliveries: only dispatchers and admins see them, and ``GET
/api/dead-letters`` lists them too.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.auth import PostUserDep, UserDep
from api.deps import SessionDep
from dispatch.accounts.models import User
from dispatch.quarantine import service
from dispatch.quarantine.flows import retry_quarantined
from dispatch.quarantine.models import QuarantinedItem
from dispatch.tickets import access

router = APIRouter(prefix="/api/quarantine", tags=["dead letters"])


class QuarantinedRead(BaseModel):
    id: int
    task: str
    what: str
    item: str
    link: str | None
    failures: int
    error: str
    first_failed_at: datetime
    last_failed_at: datetime
    quarantined_at: datetime
    discarded_at: datetime | None
    discarded_by: str | None


class QuarantineRetry(BaseModel):
    item: str
    queued: bool


def _link(what: str, item: str) -> str | None:
    if what == "event":
        return f"/api/events/{item}"
    return f"/api/tickets/{item}" if what == "ticket" else None


def read(row: QuarantinedItem) -> QuarantinedRead:
    what = service.WHAT.get(row.task, "item")
    assert row.quarantined_at is not None
    return QuarantinedRead(
        id=row.id, task=row.task, what=what, item=row.item, link=_link(what, row.item),
        failures=row.failures, error=row.error, first_failed_at=row.first_failed_at,
        last_failed_at=row.last_failed_at, quarantined_at=row.quarantined_at,
        discarded_at=row.discarded_at, discarded_by=row.discarded_by)


def check_operator(user: User) -> None:
    if not access.sees_all_agencies(user):
        raise access.AccessDenied("only dispatchers and admins see quarantined work")


def quarantined(*, db_session: Session, include_discarded: bool = False) -> list[QuarantinedRead]:
    rows = service.list_quarantined(db_session=db_session, include_discarded=include_discarded)
    return [read(row) for row in rows]


def retry_item(*, db_session: Session, user: User, quarantine_id: int) -> QuarantineRetry:
    check_operator(user)
    released = retry_quarantined(db_session=db_session, quarantine_id=quarantine_id,
                                 actor=user.username)
    return QuarantineRetry(item=released.item, queued=released.queued)


def discard_item(*, db_session: Session, user: User, quarantine_id: int) -> QuarantinedRead:
    check_operator(user)
    try:
        with db_session.begin():
            return read(service.discard(db_session=db_session, quarantine_id=quarantine_id,
                                        actor=user.username))
    except service.AlreadyDiscarded as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None


@router.get("", response_model=list[QuarantinedRead])
def list_quarantined(db: SessionDep, who: UserDep,
                     include_discarded: bool = False) -> list[QuarantinedRead]:
    check_operator(who.user)
    return quarantined(db_session=db, include_discarded=include_discarded)


@router.post("/{quarantine_id}/retry", response_model=QuarantineRetry)
def retry(quarantine_id: int, db: SessionDep, who: PostUserDep) -> QuarantineRetry:
    """Out of quarantine and queued again (``queued`` false: the broker is down; the sweeper
    sends it)."""
    return retry_item(db_session=db, user=who.user, quarantine_id=quarantine_id)


@router.post("/{quarantine_id}/discard", response_model=QuarantinedRead)
def discard(quarantine_id: int, db: SessionDep, who: PostUserDep) -> QuarantinedRead:
    """Leave it for good: it stays failed and out of the queues."""
    return discard_item(db_session=db, user=who.user, quarantine_id=quarantine_id)

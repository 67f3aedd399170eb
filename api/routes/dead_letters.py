"""Dead letters over JSON: channel deliveries that failed their last try, and a retry.

Only dispatchers and admins see them (they span every agency); a POST needs the session's
CSRF token like every other POST made with the session cookie.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api.auth import PostUserDep, UserDep
from api.deps import SessionDep
from api.routes.quarantine import QuarantinedRead, quarantined
from dispatch.accounts.models import User
from dispatch.delivery import dead_letters
from dispatch.delivery.flows import retry_dead_letter
from dispatch.delivery.models import DeadLetter
from dispatch.tickets import access
from dispatch.tickets.models import Ticket

router = APIRouter(prefix="/api/dead-letters", tags=["dead letters"])


class DeadLetterRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int
    ticket_reference: str
    agency: str
    channel: str
    attempts: int
    last_error: str
    payload: dict[str, Any]
    created_at: datetime
    retried_at: datetime | None
    retried_by: str | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterRead]
    next_cursor: int | None
    quarantined: list[QuarantinedRead] = Field(
        default_factory=list, description="Work a task failed on again and again, kept out of "
        "the queues (first page only); retry or discard it under /api/quarantine")


class RetryResult(BaseModel):
    dead_letter: DeadLetterRead
    delivery_id: int
    queued: bool


def check_operator(user: User) -> None:
    if not access.sees_all_agencies(user):
        raise access.AccessDenied("only dispatchers and admins see dead letters")


def read(letter: DeadLetter, reference: str) -> DeadLetterRead:
    return DeadLetterRead.model_validate({**{c: getattr(letter, c) for c in (
        "id", "ticket_id", "agency", "channel", "attempts", "last_error", "payload",
        "created_at", "retried_at", "retried_by")}, "ticket_reference": reference})


def retry_letter(*, db_session: Session, user: User, dead_letter_id: int) -> int:
    """Operators only; 409 when the letter was already retried."""
    check_operator(user)
    try:
        return retry_dead_letter(db_session=db_session, dead_letter_id=dead_letter_id, actor=user.username)
    except dead_letters.AlreadyRetried as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None


@router.get("", response_model=DeadLetterPage)
def list_dead_letters(
    db: SessionDep, who: UserDep,
    include_retried: bool = False,
    cursor: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeadLetterPage:
    check_operator(who.user)
    rows, next_cursor = dead_letters.list_dead_letters(
        db_session=db, include_retried=include_retried, cursor=cursor, limit=limit)
    return DeadLetterPage(items=[read(letter, ref) for letter, ref in rows], next_cursor=next_cursor,
                          quarantined=quarantined(db_session=db) if cursor is None else [])


@router.get("/{dead_letter_id}", response_model=DeadLetterRead)
def get_dead_letter(dead_letter_id: int, db: SessionDep, who: UserDep) -> DeadLetterRead:
    check_operator(who.user)
    letter = dead_letters.get_dead_letter(db_session=db, dead_letter_id=dead_letter_id)
    return read(letter, _reference(db, letter))


@router.post("/{dead_letter_id}/retry", response_model=RetryResult)
def retry(dead_letter_id: int, db: SessionDep, who: PostUserDep) -> RetryResult:
    delivery_id = retry_letter(db_session=db, user=who.user, dead_letter_id=dead_letter_id)
    letter = dead_letters.get_dead_letter(db_session=db, dead_letter_id=dead_letter_id)
    return RetryResult(dead_letter=read(letter, _reference(db, letter)), delivery_id=delivery_id,
                       queued=True)


def _reference(db: Session, letter: DeadLetter) -> str:
    ticket = db.get(Ticket, letter.ticket_id)
    return ticket.reference if ticket else "?"

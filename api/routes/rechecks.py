"""Camera re-checks of a ticket, and the snapshot a re-check stored as evidence.

Whoever may see the ticket may see its re-checks (the same rule as the ticket itself).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from api.auth import UserDep
from api.deps import SessionDep
from dispatch.cameras.models import Recheck
from dispatch.core.errors import NotFound
from dispatch.tickets.access import visible_ticket

router = APIRouter(prefix="/api", tags=["rechecks"])


class RecheckRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int
    camera_id: str
    zone: str
    category: str
    box: list[float] | None
    due_at: datetime
    status: str
    ran_at: datetime | None
    score: float | None
    detail: str | None
    has_snapshot: bool


@router.get("/tickets/{ticket_id}/rechecks", response_model=list[RecheckRead])
def list_rechecks(ticket_id: int, db: SessionDep, who: UserDep) -> list[RecheckRead]:
    visible_ticket(db_session=db, user=who.user, ticket_id=ticket_id)
    rows = db.scalars(select(Recheck).where(Recheck.ticket_id == ticket_id).order_by(Recheck.id))
    return [RecheckRead.model_validate({**{c: getattr(r, c) for c in RecheckRead.model_fields
                                          if c != "has_snapshot"},
                                       "has_snapshot": r.snapshot_content_type is not None})
            for r in rows]


@router.get("/rechecks/{recheck_id}/snapshot")
def recheck_snapshot(recheck_id: int, db: SessionDep, who: UserDep) -> Response:
    row = db.get(Recheck, recheck_id)
    if row is None:
        raise NotFound("re-check", recheck_id)
    try:
        visible_ticket(db_session=db, user=who.user, ticket_id=row.ticket_id)
    except NotFound:  # the same answer as a missing re-check: ids of others' tickets stay hidden
        raise NotFound("re-check", recheck_id) from None
    if row.snapshot is None or row.snapshot_content_type is None:
        raise NotFound("snapshot of re-check", recheck_id)
    return Response(row.snapshot, media_type=row.snapshot_content_type,
                    headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private",
                             "Content-Security-Policy": "sandbox",
                             "Content-Disposition": f'inline; filename="recheck-{recheck_id}.jpg"'})

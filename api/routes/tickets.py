"""Tickets over JSON: list per agency, one with its full history, lifecycle actions.

Every route needs a signed-in user (the session cookie); staff and supervisors see and
change only their own agency's tickets, and the actor recorded is the signed-in user.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import PostUserDep, UserDep
from api.deps import RuntimeDep, SessionDep
from dispatch.core.errors import InvalidField
from dispatch.tickets import access
from dispatch.tickets import service as ticket_service
from dispatch.tickets.access import visible_ticket
from dispatch.tickets.flows import recategorize, take_action
from dispatch.tickets.lifecycle import Action, Status, allowed_actions
from dispatch.tickets.models import Ticket
from dispatch.tickets.schemas import (
    ActionRequest,
    ActionResult,
    CategoryChange,
    TicketPage,
    TicketRead,
    TicketSummary,
)

router = APIRouter(prefix="/api/tickets", tags=["tickets"])


def _read(ticket: Ticket, *, callback: bool = False) -> TicketRead:
    data = TicketRead.model_validate(
        {**TicketSummary.model_validate(ticket).model_dump(), "routing": ticket.routing,
         "rejected_by": ticket.rejected_by,
         "allowed_actions": allowed_actions(ticket.status, callback=callback),
         "incident": ticket.incident, "history": ticket.history}, from_attributes=True)
    return data


@router.get("", response_model=TicketPage)
def list_tickets(
    db: SessionDep, rt: RuntimeDep, who: UserDep,
    agency: Annotated[str | None, Query(max_length=64)] = None,
    status: Status | None = None,
    triage: bool | None = None,
    cursor: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TicketPage:
    if agency is not None and rt.city.agency(agency) is None:
        known = ", ".join(a.code for a in rt.city.agencies)
        raise InvalidField("agency", f"unknown agency {agency!r}; known: {known}")
    scope = access.agency_scope(who.user)
    if scope is not None:
        if agency not in (None, scope):
            raise access.AccessDenied(f"you see only the tickets of {scope!r}")
        agency = scope
    rows, next_cursor = ticket_service.list_tickets(
        db_session=db, agency=agency, status=status, triage=triage, cursor=cursor, limit=limit)
    return TicketPage(items=[TicketSummary.model_validate(t) for t in rows], next_cursor=next_cursor)


@router.get("/{ticket_id}", response_model=TicketRead)
def get_ticket(ticket_id: int, db: SessionDep, rt: RuntimeDep, who: UserDep) -> TicketRead:
    return _read(visible_ticket(db_session=db, user=who.user, ticket_id=ticket_id),
                 callback=rt.city.workflow.callback)


@router.post("/{ticket_id}/category", response_model=TicketRead)
def change_category(ticket_id: int, body: CategoryChange, db: SessionDep, rt: RuntimeDep,
                    who: PostUserDep) -> TicketRead:
    """File the ticket under another category; the agency and status stay, the history records
    the change, and the ticket's text becomes a labelled example of the new category.
    Declared before ``/{ticket_id}/{action}``, which would otherwise take the path."""
    recategorize(db_session=db, city=rt.city, user=who.user, ticket_id=ticket_id,
                 category=body.category, note=body.note)
    return _read(ticket_service.get_ticket(db_session=db, ticket_id=ticket_id),
                 callback=rt.city.workflow.callback)


@router.post("/{ticket_id}/{action}", response_model=ActionResult)
def act(ticket_id: int, action: Action, body: ActionRequest, db: SessionDep, rt: RuntimeDep,
        who: PostUserDep) -> ActionResult:
    """``actor`` in the body is kept for compatibility; the signed-in user is recorded."""
    take_action(db_session=db, city=rt.city, user=who.user, ticket_id=ticket_id, action=action,
               note=body.note, reason=body.reason, agency=body.agency, rating=body.rating)
    return ActionResult(action=action, ticket=_read(ticket_service.get_ticket(db_session=db, ticket_id=ticket_id),
                                                    callback=rt.city.workflow.callback))

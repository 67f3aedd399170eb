"""Staff and dispatcher actions on a ticket: the lifecycle, recorded in the history; and a
category change (``change_category``), which moves no status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy.orm import Session

from dispatch.city.config import CityConfig
from dispatch.city.routing import RoutingDecision
from dispatch.core.errors import InvalidField
from dispatch.i18n import explain
from dispatch.tickets.lifecycle import RATING_NAMES, RATINGS, Action, callback_action, next_status
from dispatch.tickets.models import Ticket
from dispatch.tickets.schemas import ActionRequest
from dispatch.tickets.service import get_ticket, record


class FollowUp(BaseModel):
    """Work to enqueue after the transaction commits."""

    kind: Literal["none", "reroute", "deliver"]
    ticket_id: int
    routing_seq: int
    queue: str | None = None


def _check_request(*, city: CityConfig, action: Action, request: ActionRequest) -> None:
    if action == "reject" and not request.reason:
        raise InvalidField("reason", explain.REASON_REQUIRED())
    if action == "callback":
        if not city.workflow.callback:
            raise InvalidField("action", explain.NO_CALLBACK_STEP(setting="workflow: {callback: true}"))
        if request.rating is None:
            raise InvalidField("rating", explain.RATING_REQUIRED(ratings=", ".join(RATINGS)))
    if action == "reassign":
        if not request.agency:
            raise InvalidField("agency", explain.AGENCY_REQUIRED())
        if city.agency(request.agency) is None:
            known = ", ".join(a.code for a in city.agencies)
            raise InvalidField("agency", f"unknown agency {request.agency!r}; known: {known}")


def apply_action(
    *, db_session: Session, city: CityConfig, ticket_id: int, action: Action,
    request: ActionRequest,
) -> tuple[Ticket, FollowUp]:
    """Move the ticket; raises IllegalTransition (with the allowed actions) or InvalidField."""
    _check_request(city=city, action=action, request=request)
    ticket = get_ticket(db_session=db_session, ticket_id=ticket_id, for_update=True)
    before = ticket.status
    moves = callback_action(request.rating) if action == "callback" and request.rating else action
    ticket.status = next_status(moves, before, callback=city.workflow.callback)
    follow = FollowUp(kind="none", ticket_id=ticket.id, routing_seq=ticket.routing_seq)
    data: dict[str, object] = {}
    note = request.reason if action == "reject" else request.note
    if action == "callback" and request.rating is not None:
        label = RATING_NAMES.get(city.city.language, RATING_NAMES["en"])[request.rating]
        data = {"rating": request.rating, "outcome": "reopened" if moves == "reopen" else "closed"}
        note = f"{label}: {note}" if note else label
    elif action == "reject":
        rejecting = ticket.agency
        if rejecting and rejecting not in ticket.rejected_by:
            ticket.rejected_by = [*ticket.rejected_by, rejecting]
        data = {"rejected_by": rejecting, "reason": request.reason}
        follow = FollowUp(kind="reroute", ticket_id=ticket.id, routing_seq=ticket.routing_seq)
    elif action == "reassign":
        agency = city.agency(request.agency or "")
        assert agency is not None
        data = {"from_agency": ticket.agency, "to_agency": agency.code}
        if ticket.assignee:  # a colleague of the old agency cannot see it any more
            data["unassigned"] = ticket.assignee
        ticket.agency, ticket.needs_triage, ticket.assignee = agency.code, False, None
        ticket.arrived_at = datetime.now(UTC)
        ticket.routing_seq += 1
        ticket.routing = RoutingDecision(
            method="manual", agency=agency.code, by=request.actor,
            reason=request.note or explain.REASSIGNED()).as_json()
        follow = FollowUp(kind="deliver", ticket_id=ticket.id, routing_seq=ticket.routing_seq,
                          queue=agency.queue)
    record(db_session=db_session, ticket=ticket, actor=request.actor, action=action,
           from_status=before, note=note, data=data)
    return ticket, follow


def change_category(
    *, db_session: Session, city: CityConfig, ticket_id: int, category: str | None, actor: str,
    note: str | None = None,
) -> tuple[Ticket, str]:
    """File the ticket under another configured category; returns (ticket, previous category).

    The ticket keeps its agency and status: the person who knows the right category is most
    often the agency's own staff, and moving the ticket away is a separate decision (a
    rejection re-routes it, a dispatcher reassigns it). The priority follows the new category;
    the SLA deadline set when the ticket was created stands. The incident is re-filed too, so
    that later reports of the same thing merge into it under the right category.
    Raises InvalidField("category") for a missing, unknown or unchanged code.
    """
    code = (category or "").strip()
    if not code:
        raise InvalidField("category", explain.CATEGORY_REQUIRED())
    spec = city.category(code)
    if spec is None:
        known = ", ".join(c.code for c in city.categories)
        raise InvalidField("category", f"unknown category {code[:64]!r}; known: {known}")
    ticket = get_ticket(db_session=db_session, ticket_id=ticket_id, for_update=True)
    previous = ticket.category
    if code == previous:
        raise InvalidField("category", explain.ALREADY_FILED_UNDER(category=code))
    ticket.category, ticket.priority = code, spec.priority
    ticket.incident.category = code
    change = (explain.RECATEGORIZED_WITH_NOTE(before=previous, after=code, note=note) if note
              else explain.RECATEGORIZED(before=previous, after=code))
    record(db_session=db_session, ticket=ticket, actor=actor, action="recategorize",
           from_status=ticket.status, note=change,
           data={"from_category": previous, "to_category": code})
    return ticket, previous

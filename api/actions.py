"""One lifecycle action by a signed-in user, for the JSON API and the pages alike.

The ticket is locked, the user's right to see it and to take the action is checked under
that lock, the action is applied and recorded with the user as the actor, and follow-up
work is enqueued after the commit.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.orm import Session

from dispatch import access, services
from dispatch.errors import InvalidField, NotFound
from dispatch.lifecycle import Action
from dispatch.models import Ticket, User
from dispatch.runtime import Runtime
from dispatch.schemas import ActionRequest
from dispatch.tasks import enqueue_delivery, enqueue_route
from dispatch.workflow import apply_action


def visible_ticket(*, db_session: Session, user: User, ticket_id: int,
                   for_update: bool = False) -> Ticket:
    """The ticket, or NotFound when it is not the user's to see (nothing leaks)."""
    ticket = services.get_ticket(db_session=db_session, ticket_id=ticket_id, for_update=for_update)
    if not access.can_see(user, ticket):
        raise NotFound("ticket", ticket_id)
    return ticket


def run_action(*, db_session: Session, rt: Runtime, user: User, ticket_id: int, action: Action,
               note: str | None = None, reason: str | None = None,
               agency: str | None = None) -> None:
    try:
        request = ActionRequest(actor=user.username, note=note or None, reason=reason or None,
                                agency=agency or None)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidField(".".join(str(p) for p in err["loc"]), err["msg"]) from None
    with db_session.begin():
        visible_ticket(db_session=db_session, user=user, ticket_id=ticket_id, for_update=True)
        access.check_action(user, action)
        ticket, follow = apply_action(db_session=db_session, city=rt.city, ticket_id=ticket_id,
                                      action=action, request=request)
        incident_id, ticket_agency = ticket.incident_id, ticket.agency
    if follow.kind == "reroute":
        enqueue_route(incident_id)
    elif follow.kind == "deliver":
        enqueue_delivery(follow.ticket_id, follow.routing_seq, ticket_agency)
    db_session.expire_all()


def comment(*, db_session: Session, user: User, ticket_id: int, note: str) -> None:
    with db_session.begin():
        ticket = visible_ticket(db_session=db_session, user=user, ticket_id=ticket_id,
                                for_update=True)
        services.record(db_session=db_session, ticket=ticket, actor=user.username,
                        action="comment", from_status=ticket.status, note=note)

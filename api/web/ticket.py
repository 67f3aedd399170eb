"""One ticket: the write-up, the routing reason, the history timeline, comments, and the
actions the signed-in user's role may take (reassign for dispatchers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.actions import comment, run_action, visible_ticket
from api.auth import PostUserDep, SignedIn, UserDep
from api.deps import RuntimeDep, SessionDep
from api.web.render import page
from dispatch import access, inbox, services
from dispatch.errors import InvalidField
from dispatch.lifecycle import Action, IllegalTransition, allowed_actions
from dispatch.models import Event
from dispatch.runtime import Runtime

router = APIRouter(include_in_schema=False)


def _ticket_page(request: Request, db: SessionDep, rt: Runtime, who: SignedIn, ticket_id: int,
                 *, error: str | None = None, status: int = 200) -> HTMLResponse:
    ticket = visible_ticket(db_session=db, user=who.user, ticket_id=ticket_id)
    event = db.get(Event, ticket.incident.origin_event_id)
    return page(request, "inbox/ticket.html", {
        "who": who, "ticket": ticket, "incident": ticket.incident, "event": event,
        "actions": access.actions_for(who.user, allowed_actions(ticket.status)),
        "agencies": rt.city.agencies, "sla": inbox.sla_state(ticket), "error": error,
    }, status=status)


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(request: Request, ticket_id: int, db: SessionDep, rt: RuntimeDep,
                who: UserDep) -> HTMLResponse:
    return _ticket_page(request, db, rt, who, ticket_id)


@router.post("/tickets/{ticket_id}/actions/{action}")
def ticket_action(
    request: Request, ticket_id: int, action: Action, db: SessionDep, rt: RuntimeDep,
    who: PostUserDep,
    note: Annotated[str, Form(max_length=4000)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    agency: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        run_action(db_session=db, rt=rt, user=who.user, ticket_id=ticket_id, action=action,
                   note=note.strip(), reason=reason.strip(), agency=agency.strip())
    except IllegalTransition as exc:
        db.rollback()
        return _ticket_page(request, db, rt, who, ticket_id, error=str(exc), status=409)
    except InvalidField as exc:
        db.rollback()
        return _ticket_page(request, db, rt, who, ticket_id, error=exc.message, status=422)
    if not access.can_see(who.user, services.get_ticket(db_session=db, ticket_id=ticket_id)):
        return RedirectResponse("/inbox", status_code=303)  # reassigned away or rejected
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


@router.post("/tickets/{ticket_id}/comments")
def ticket_comment(ticket_id: int, db: SessionDep, who: PostUserDep,
                   note: Annotated[str, Form(min_length=1, max_length=4000)]) -> Response:
    if note.strip():
        comment(db_session=db, user=who.user, ticket_id=ticket_id, note=note.strip())
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)

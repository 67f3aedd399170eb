"""Who may see which ticket and take which action.

Staff and supervisors see and change only their own agency's tickets; dispatchers and
admins see every agency and the triage queue, and only they reassign. Every role may change
the category of a ticket it sees (``RECATEGORIZE``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from dispatch.accounts.models import User
from dispatch.core.errors import NotFound
from dispatch.tickets.lifecycle import Action
from dispatch.tickets.models import Ticket
from dispatch.tickets.service import get_ticket

RECATEGORIZE = "recategorize"  # not a lifecycle action: the status does not move
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "staff": frozenset({"acknowledge", "start", "resolve", "reject", RECATEGORIZE}),
    "supervisor": frozenset({"acknowledge", "start", "resolve", "reject", "reopen", "close",
                             "callback", RECATEGORIZE}),
    "dispatcher": frozenset({"acknowledge", "start", "resolve", "reject", "reassign", "reopen",
                             "close", "callback", RECATEGORIZE}),
    "admin": frozenset({"acknowledge", "start", "resolve", "reject", "reassign", "reopen",
                        "close", "callback", RECATEGORIZE}),
}


class AccessDenied(Exception):
    """The user may see the ticket but not do this; the API answers 403."""


def sees_all_agencies(user: User) -> bool:
    return user.role in ("dispatcher", "admin")


def agency_scope(user: User) -> str | None:
    """The only agency whose tickets the user sees, or None for every agency."""
    return None if sees_all_agencies(user) else user.agency


def can_see(user: User, ticket: Ticket) -> bool:
    return sees_all_agencies(user) or (user.agency is not None and ticket.agency == user.agency)


def may(user: User, action: str) -> bool:
    return action in ROLE_ACTIONS.get(user.role, frozenset())


def check_action(user: User, action: Action) -> None:
    if not may(user, action):
        raise AccessDenied(f"the role {user.role!r} may not {action} a ticket")


def actions_for(user: User, allowed: list[str]) -> list[str]:
    """The lifecycle's allowed actions that this user's role may take."""
    return [action for action in allowed if may(user, action)]


def visible_ticket(*, db_session: Session, user: User, ticket_id: int,
                   for_update: bool = False) -> Ticket:
    """The ticket, or NotFound when it is not the user's to see (nothing leaks)."""
    ticket = get_ticket(db_session=db_session, ticket_id=ticket_id, for_update=for_update)
    if not can_see(user, ticket):
        raise NotFound("ticket", ticket_id)
    return ticket

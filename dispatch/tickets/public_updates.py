"""What the public may read about the work on a ticket.

Open311 ``status_notes`` and the hotline's status answer show the newest of: a public
(non-internal) comment, or the note a person wrote when they acknowledged, started, resolved,
closed or reopened the ticket. Nothing else in the history is public: internal notes,
reject reasons (one agency to another), delivery errors, escalations, and anything a
``system:`` actor wrote (a camera re-check's note names the camera and its zone) stay
inside the inbox.

Staff write updates for the public, yet a phone number or e-mail address (the reporter's,
a colleague's) slips in: the update leaves with personal data redacted
(``agents.redaction.redact``); the inbox keeps the text as written.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from agents.redaction import redact
from dispatch.tickets.models import TicketComment, TicketHistory

PUBLIC_ACTIONS = ("acknowledge", "start", "resolve", "close", "reopen")
"""History actions whose note staff write for the person who reported the problem."""
MAX_CHARS = 1000
SYSTEM_ACTOR_PREFIX = "system:"


def latest(*, db_session: Session, ticket_ids: Iterable[int]) -> dict[int, str]:
    """Each ticket's newest public update (tickets without one are absent)."""
    ids = sorted(set(ticket_ids))
    if not ids:
        return {}
    found: dict[int, tuple[datetime, int, str]] = {}

    def offer(ticket_id: int, at: datetime, order: int, text: str | None) -> None:
        text = (text or "").strip()
        if text and (ticket_id not in found or (at, order) > found[ticket_id][:2]):
            found[ticket_id] = (at, order, text[:MAX_CHARS])

    comments = select(TicketComment.ticket_id, TicketComment.created_at, TicketComment.id,
                      TicketComment.body).where(TicketComment.ticket_id.in_(ids),
                                                TicketComment.internal.is_(False))
    for ticket_id, at, order, body in db_session.execute(comments):
        offer(ticket_id, at, order, body)
    notes = select(TicketHistory.ticket_id, TicketHistory.at, TicketHistory.id,
                   TicketHistory.note).where(TicketHistory.ticket_id.in_(ids),
                                             TicketHistory.action.in_(PUBLIC_ACTIONS),
                                             TicketHistory.note.is_not(None),
                                             ~TicketHistory.actor.startswith(SYSTEM_ACTOR_PREFIX))
    for ticket_id, at, order, note in db_session.execute(notes):
        offer(ticket_id, at, order, note)
    return {ticket_id: redact(text) for ticket_id, (_at, _order, text) in found.items()}

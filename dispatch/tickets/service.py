"""Tickets: lookups, the keyset list, and the history record every change writes.

Typed, keyword-only services; the caller owns the transaction.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from dispatch.core.errors import NotFound
from dispatch.tickets.models import Ticket, TicketHistory


def ticket_for_incident(*, db_session: Session, incident_id: uuid.UUID | None) -> Ticket | None:
    if incident_id is None:
        return None
    return db_session.scalar(select(Ticket).where(Ticket.incident_id == incident_id))


def get_ticket(*, db_session: Session, ticket_id: int, for_update: bool = False) -> Ticket:
    stmt = select(Ticket).where(Ticket.id == ticket_id).options(selectinload(Ticket.history))
    if for_update:
        stmt = stmt.with_for_update(of=Ticket)
    ticket = db_session.scalar(stmt)
    if ticket is None:
        raise NotFound("ticket", ticket_id)
    return ticket


def list_tickets(
    *, db_session: Session, agency: str | None, status: str | None, triage: bool | None,
    cursor: int | None, limit: int,
) -> tuple[list[Ticket], int | None]:
    """Newest first, keyset-paginated on the ticket id."""
    stmt = select(Ticket).order_by(Ticket.id.desc()).limit(limit + 1)
    if agency is not None:
        stmt = stmt.where(Ticket.agency == agency)
    if status is not None:
        stmt = stmt.where(Ticket.status == status)
    if triage is not None:
        stmt = stmt.where(Ticket.needs_triage.is_(triage))
    if cursor is not None:
        stmt = stmt.where(Ticket.id < cursor)
    rows = list(db_session.scalars(stmt))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def count_tickets(*, db_session: Session) -> int:
    return db_session.scalar(select(func.count()).select_from(Ticket)) or 0


def record(
    *, db_session: Session, ticket: Ticket, actor: str, action: str, from_status: str | None,
    note: str | None = None, data: dict[str, object] | None = None,
) -> TicketHistory:
    entry = TicketHistory(
        ticket_id=ticket.id, actor=actor, action=action, from_status=from_status,
        to_status=ticket.status, agency=ticket.agency, note=note, data=data or {},
    )
    db_session.add(entry)
    return entry

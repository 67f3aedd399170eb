"""Periodic work: find stalled pipeline work and re-enqueue it; flag overdue tickets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from dispatch.core.queues import DELIVER_TASK, ROUTE_TASK
from dispatch.delivery.models import Delivery
from dispatch.i18n import explain
from dispatch.incidents.models import Incident
from dispatch.intake.models import Event
from dispatch.quarantine.service import quarantined
from dispatch.tickets.lifecycle import ACTIVE
from dispatch.tickets.models import Ticket
from dispatch.tickets.service import record


def stalled_events(*, db_session: Session, older_than_s: int, limit: int = 500) -> list[uuid.UUID]:
    """Events still ``received``: a quarantined one is ``failed`` and not sent again."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    stmt = (select(Event.id).where(Event.status == "received", Event.received_at < cutoff)
            .order_by(Event.received_at).limit(limit))
    return list(db_session.scalars(stmt))


def unrouted_incidents(*, db_session: Session, older_than_s: int, limit: int = 500) -> list[uuid.UUID]:
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    has_ticket = exists().where(Ticket.incident_id == Incident.id)
    rejected = exists().where(and_(Ticket.incident_id == Incident.id, Ticket.status == "rejected",
                                   Ticket.updated_at < cutoff))
    stmt = (select(Incident.id).where(Incident.created_at < cutoff, (~has_ticket) | rejected,
                                      ~quarantined(ROUTE_TASK, Incident.id))
            .limit(limit))
    return list(db_session.scalars(stmt))


def undelivered_tickets(
    *, db_session: Session, older_than_s: int, limit: int = 500
) -> list[tuple[int, int, str]]:
    """(ticket id, routing seq, agency) of routed tickets whose inbox delivery is missing."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    delivered = exists().where(Delivery.ticket_id == Ticket.id,  # the inbox row, not an
                               Delivery.channel == "inbox",      # escalation e-mail's
                               Delivery.routing_seq == Ticket.routing_seq)
    stmt = (select(Ticket.id, Ticket.routing_seq, Ticket.agency)
            .where(Ticket.agency.is_not(None), Ticket.updated_at < cutoff, ~delivered,
                   ~quarantined(DELIVER_TASK, Ticket.id))
            .limit(limit))
    return [(row[0], row[1], row[2]) for row in db_session.execute(stmt) if row[2] is not None]


def flag_overdue(*, db_session: Session, now: datetime | None = None) -> list[int]:
    """Mark active tickets past their SLA due time, once each, with a history entry."""
    now = now or datetime.now(UTC)
    stmt = (select(Ticket).where(Ticket.status.in_(ACTIVE), Ticket.sla_breached.is_(False),
                                 Ticket.sla_due_at < now)
            .with_for_update(of=Ticket, skip_locked=True).limit(500))
    flagged = []
    for ticket in db_session.scalars(stmt):
        ticket.sla_breached = True
        record(db_session=db_session, ticket=ticket, actor="system:sla", action="sla_breached",
               from_status=ticket.status, note=explain.SLA_PASSED(due=ticket.sla_due_at.isoformat()))
        flagged.append(ticket.id)
    return flagged

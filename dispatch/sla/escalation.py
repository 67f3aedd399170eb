"""SLA escalation: levels of the city file reached by overdue tickets, once each.

A level is reached ``after_hours`` past the ticket's SLA due time. Reaching it writes an
``escalations`` row (unique per ticket and level), raises the priority one step when the
level says so, records an ``escalated`` history entry (the inbox notification everyone
on the ticket sees), and, when the agency has SMTP settings and a supervisor address,
plans an e-mail to the supervisor as a channel delivery (with its retries and dead letter).
Levels are chosen by the category's configured priority, so raising the ticket's priority
does not switch it to another list of levels.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import get_args

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, case, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dispatch.city.config import CityConfig
from dispatch.city.handling import EscalationLevel, Priority, raised
from dispatch.delivery import outbox
from dispatch.delivery.registry import escalation_channel, supervisors_by_email
from dispatch.i18n import explain
from dispatch.sla.models import EscalationRecord
from dispatch.tickets.lifecycle import ACTIVE
from dispatch.tickets.models import Ticket
from dispatch.tickets.service import record

ACTOR = "system:sla"


class Escalated(BaseModel):
    ticket_id: int
    agency: str | None
    level: int
    priority_from: str
    priority_to: str
    notified: list[str]
    delivery_id: int | None = None


def _reach(db: Session, city: CityConfig, ticket: Ticket, number: int,
           level: EscalationLevel) -> Escalated | None:
    before = ticket.priority
    after = raised(before) if level.raise_priority else before
    agency = city.agency(ticket.agency or "")
    notified = supervisors_by_email(city, agency) if agency and level.notify_supervisors else []
    inserted = db.execute(
        insert(EscalationRecord).values(ticket_id=ticket.id, level=number, priority_from=before,
                                        priority_to=after, notified=notified)
        .on_conflict_do_nothing().returning(EscalationRecord.id)).scalar()
    ticket.escalation_level = max(ticket.escalation_level, number)
    if inserted is None:
        return None
    ticket.priority, ticket.sla_breached = after, True
    delivery_id = (outbox.add_pending(db_session=db, ticket=ticket,
                                      channel=escalation_channel(number)) if notified else None)
    due = f"{ticket.sla_due_at.astimezone(UTC):%Y-%m-%d %H:%M}"
    parts = [explain.ESCALATED_AFTER(level=number, hours=f"{level.after_hours:g}", due=due)
             if level.after_hours else explain.ESCALATED_AT_ONCE(level=number, due=due)]
    if after != before:
        parts.append(explain.PRIORITY_RAISED(before=before, after=after))
    parts.append(explain.NOTIFIED_BY_EMAIL(emails=", ".join(notified)) if notified
                 else explain.NOTIFIED_IN_INBOX())
    note = explain.SEPARATOR.join(parts)
    record(db_session=db, ticket=ticket, actor=ACTOR, action="escalated", from_status=ticket.status,
           note=note, data={"level": number, "priority_from": before, "priority_to": after,
                            "notified": notified, "after_hours": level.after_hours})
    return Escalated(ticket_id=ticket.id, agency=ticket.agency, level=number, priority_from=before, priority_to=after,
                     notified=notified, delivery_id=delivery_id)


def escalate_overdue(*, db_session: Session, city: CityConfig, now: datetime | None = None,
                     limit: int = 500) -> list[Escalated]:
    """Every level each active overdue ticket has newly reached, in order."""
    if city.escalation is None:
        return []
    now = now or datetime.now(UTC)
    next_at = _next_level_at(city)
    if next_at is None:
        return []
    # only tickets whose own next level is due: tickets waiting for a later level, or with no
    # level left, must not fill the batch and starve the ones that are due (before, 500 of
    # them stopped every newer escalation)
    stmt = (select(Ticket).where(Ticket.status.in_(ACTIVE), Ticket.sla_due_at < now,
                                 next_at <= now)
            .order_by(next_at).with_for_update(of=Ticket, skip_locked=True).limit(limit))
    done = []
    for ticket in db_session.scalars(stmt):
        category = city.category(ticket.category)
        levels = city.escalation.levels_for(category.priority if category else ticket.priority)
        for number, level in enumerate(levels, start=1):
            if number <= ticket.escalation_level:
                continue
            if ticket.sla_due_at + timedelta(hours=level.after_hours) > now:
                break
            reached = _reach(db_session, city, ticket, number, level)
            if reached is not None:
                done.append(reached)
    return done


def _next_level_at(city: CityConfig) -> ColumnElement[datetime] | None:
    """SQL for when each ticket reaches its next escalation level (NULL: none left).

    A ticket's levels follow its category's priority (its own priority when the category is
    no longer in the city file), as in ``escalate_overdue``.
    """
    assert city.escalation is not None
    priority = case({c.code: c.priority for c in city.categories}, value=Ticket.category,
                    else_=Ticket.priority)
    whens = []
    for name in get_args(Priority):
        for done, level in enumerate(city.escalation.levels_for(name)):
            whens.append((and_(priority == name, Ticket.escalation_level == done),
                          Ticket.sla_due_at + timedelta(hours=level.after_hours)))
    return case(*whens, else_=None) if whens else None

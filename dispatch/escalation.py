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

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dispatch.cityconfig import CityConfig
from dispatch.delivery import outbox
from dispatch.delivery.registry import escalation_channel, supervisors_by_email
from dispatch.delivery_config import EscalationLevel, raised
from dispatch.delivery_models import EscalationRecord
from dispatch.lifecycle import ACTIVE
from dispatch.models import Ticket
from dispatch.services import record

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
    hours = f"{level.after_hours:g} h" if level.after_hours else "at once"
    note = (f"SLA escalation level {number} ({hours} after the due time "
            f"{ticket.sla_due_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)")
    if after != before:
        note += f"; priority {before} -> {after}"
    note += f"; supervisor notified by e-mail: {', '.join(notified)}" if notified else \
        "; supervisor notified in the inbox"
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
    most = max([len(city.escalation.levels),
                *(len(levels) for levels in city.escalation.by_priority.values())])
    stmt = (select(Ticket).where(Ticket.status.in_(ACTIVE), Ticket.sla_due_at < now,
                                 Ticket.escalation_level < most)
            .order_by(Ticket.sla_due_at).with_for_update(of=Ticket, skip_locked=True).limit(limit))
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

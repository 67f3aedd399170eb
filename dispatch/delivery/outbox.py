"""Channel deliveries as rows: planned with the inbox delivery, claimed before the send,
marked sent after it, dead-lettered after the last try.

One row per (ticket, agency, channel, routing seq) makes a second send of the same
delivery impossible from our side; the row's idempotency key goes out with the message so
a receiver can drop the repeat of a send whose acknowledgement we lost. A claim is a
``sending`` status with a lease: ``next_attempt_at`` is when the claim lapses (three times the
channel's timeout and 15 s, ``registry.claim_lease``). A duplicate message before then finds
the claim and does nothing; after it, the claim belongs to a crashed worker and the sweep sends
again. A claim without a lease (written before leases) lapses ``CLAIM_TTL`` after it was taken.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from dispatch.city.config import CityConfig
from dispatch.core.db import transaction
from dispatch.delivery.base import DeliveryFailed, PermanentDeliveryError, TicketMessage
from dispatch.delivery.models import DeadLetter, Delivery
from dispatch.delivery.registry import (
    CHANGE_PREFIX,
    build_channel,
    change_channel,
    channels_of,
    claim_lease,
    escalation_level,
)
from dispatch.i18n import explain
from dispatch.intake.models import Event
from dispatch.tickets.models import Ticket, TicketHistory
from dispatch.tickets.service import record

log = logging.getLogger(__name__)
ACTOR = "system:delivery"
CLAIM_TTL = timedelta(minutes=5)  # a claim without a lease: longer than any channel's timeout (<= 120 s)
MAX_ERROR = 1000
EARLY = timedelta(seconds=1)


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    agency: str
    channel: str
    attempts: int
    message: TicketMessage


@dataclass(frozen=True)
class Outcome:
    """``sent``, ``retry`` (after ``retry_in_s``), ``dead``, or ``skipped`` (nothing to do)."""

    status: str
    retry_in_s: float | None = None
    detail: str = ""


def plan(*, db_session: Session, city: CityConfig, ticket: Ticket) -> list[int]:
    """Pending rows for the agency's outside channels at the ticket's current routing."""
    agency = city.agency(ticket.agency or "")
    if agency is None:
        return []
    return [row_id for name in channels_of(city, agency)
            if (row_id := add_pending(db_session=db_session, ticket=ticket, channel=name))]


def add_pending(*, db_session: Session, ticket: Ticket, channel: str) -> int | None:
    """A pending delivery row; None when this delivery exists already."""
    assert ticket.agency is not None
    return db_session.execute(
        insert(Delivery).values(ticket_id=ticket.id, agency=ticket.agency, channel=channel,
                                routing_seq=ticket.routing_seq, status="pending", attempts=0)
        .on_conflict_do_nothing().returning(Delivery.id)).scalar()


def add_change(*, db_session: Session, city: CityConfig, ticket: Ticket) -> int | None:
    """A pending MQTT publication of the ticket as it is after a change that was just recorded
    in its history (a staff action, a category change), when the city publishes tickets on MQTT
    (``mqtt:``). Numbered by the change, so each change is published once; call it with the
    ticket locked. None when the city does not publish or the ticket has no agency."""
    if city.mqtt is None or ticket.agency is None:
        return None
    db_session.flush()
    number = db_session.scalar(select(func.count()).select_from(TicketHistory)
                               .where(TicketHistory.ticket_id == ticket.id))
    return add_pending(db_session=db_session, ticket=ticket, channel=change_channel(int(number or 0)))


def _change_notice(db_session: Session, ticket_id: int, channel: str) -> str | None:
    number = channel[len(CHANGE_PREFIX):]
    if not channel.startswith(CHANGE_PREFIX) or not number.isdigit():
        return None
    entry = db_session.scalars(select(TicketHistory).where(TicketHistory.ticket_id == ticket_id)
                               .order_by(TicketHistory.id).offset(int(number) - 1).limit(1)).first()
    if entry is None:
        return None
    return f"{entry.action}: {entry.from_status or '-'} -> {entry.to_status or '-'}"


def pending(*, db_session: Session, ticket_id: int) -> list[tuple[int, str]]:
    """(delivery id, agency) of the ticket's channel deliveries not yet sent or claimed."""
    stmt = select(Delivery.id, Delivery.agency).where(
        Delivery.ticket_id == ticket_id, Delivery.status == "pending").order_by(Delivery.id)
    return [(row[0], row[1]) for row in db_session.execute(stmt)]


def stalled(*, db_session: Session, older_than_s: int, limit: int = 500) -> list[tuple[int, str]]:
    """Deliveries whose message was lost: pending past their time, or claimed by a worker
    that died before it marked the outcome."""
    now = datetime.now(UTC)
    cutoff = now - timedelta(seconds=older_than_s)
    waiting = and_(Delivery.status == "pending",
                   func.coalesce(Delivery.next_attempt_at, Delivery.delivered_at) < cutoff)
    lease_end = case((Delivery.next_attempt_at > Delivery.claimed_at, Delivery.next_attempt_at),
                     else_=Delivery.claimed_at + CLAIM_TTL)
    orphaned = and_(Delivery.status == "sending", lease_end < now)
    stmt = (select(Delivery.id, Delivery.agency).where(or_(waiting, orphaned))
            .order_by(Delivery.id).limit(limit))
    return [(row[0], row[1]) for row in db_session.execute(stmt)]


def message_for(*, db_session: Session, city: CityConfig, ticket: Ticket, channel: str) -> TicketMessage:
    event = db_session.get(Event, ticket.incident.origin_event_id)
    category = city.category(ticket.category)
    agency = city.agency(ticket.agency or "")
    service_code = category.open311_service_code if category else None
    if agency is not None and agency.open311 is not None:
        service_code = agency.open311.service_codes.get(ticket.category, service_code)
    level = escalation_level(channel)
    notice = None
    if level is not None:
        notice = (f"SLA escalation level {level}: overdue since "
                  f"{ticket.sla_due_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC, priority {ticket.priority}")
    elif channel.startswith(CHANGE_PREFIX):
        notice = _change_notice(db_session, ticket.id, channel)
    return TicketMessage(
        idempotency_key=TicketMessage.key_for(ticket_id=ticket.id, channel=channel,
                                              routing_seq=ticket.routing_seq),
        ticket_id=ticket.id, reference=ticket.reference, routing_seq=ticket.routing_seq,
        agency=ticket.agency or "", category=ticket.category, priority=ticket.priority,
        title=ticket.title, district=ticket.district, description=ticket.incident.description,
        address=event.address if event else None, lat=ticket.incident.lat, lon=ticket.incident.lon,
        service_code=service_code, notice=notice, status=ticket.status)


def _claim_holds(row: Delivery, now: datetime) -> bool:
    """A ``sending`` row's claim is still its worker's: its lease has not lapsed. A claim without a
    lease — ``next_attempt_at`` empty, or a retry's time from before the claim, as a worker of an
    older release leaves it — holds ``CLAIM_TTL``."""
    if row.claimed_at is None:
        return False
    if row.next_attempt_at is not None and row.next_attempt_at > row.claimed_at:
        return row.next_attempt_at > now
    return row.claimed_at > now - CLAIM_TTL


def claim(*, factory: sessionmaker[Session], city: CityConfig, delivery_id: int) -> Claim | None:
    """Take the delivery for one send, or None when it is done, stale or someone else's."""
    now = datetime.now(UTC)
    with transaction(factory) as db:
        row = db.scalar(select(Delivery).where(Delivery.id == delivery_id)
                        .with_for_update(skip_locked=True))
        if row is None or row.status in ("sent", "dead", "stale"):
            return None
        if row.status == "sending" and _claim_holds(row, now):
            return None
        if row.status == "pending" and row.next_attempt_at and row.next_attempt_at > now + EARLY:
            return None  # a duplicate message before the backoff is over; the retry comes
        ticket = db.get(Ticket, row.ticket_id)
        if ticket is None or ticket.routing_seq != row.routing_seq or ticket.agency != row.agency:
            row.status, row.last_error = "stale", "the ticket was routed elsewhere before sending"
            return None
        message = message_for(db_session=db, city=city, ticket=ticket, channel=row.channel)
        row.status, row.claimed_at, row.attempts = "sending", now, row.attempts + 1
        row.next_attempt_at = now + claim_lease(city, row.agency, row.channel)
        return Claim(delivery_id=row.id, agency=row.agency, channel=row.channel,
                     attempts=row.attempts, message=message)


def mark_sent(*, factory: sessionmaker[Session], taken: Claim, remote_ref: str | None) -> None:
    with transaction(factory) as db:
        row = db.scalar(select(Delivery).where(Delivery.id == taken.delivery_id).with_for_update())
        if row is None or row.status == "sent":
            return
        if row.status != "sending" or row.attempts != taken.attempts:
            # another claim took over (this send outlived its lease): the row is no longer ours,
            # but what we sent went out; record it so nobody sends it a third time
            log.warning("delivery %s: sent by an expired claim (attempt %s, row at %s, %s)",
                        row.id, taken.attempts, row.attempts, row.status)
            if row.status == "dead":  # the newer claim gave up meanwhile: its letter is settled
                for letter in db.scalars(select(DeadLetter).where(
                        DeadLetter.delivery_id == row.id, DeadLetter.retried_at.is_(None))):
                    letter.retried_at, letter.retried_by = datetime.now(UTC), ACTOR
        row.status, row.sent_at, row.remote_ref = "sent", datetime.now(UTC), remote_ref
        row.next_attempt_at = None
        ticket = db.get(Ticket, row.ticket_id)
        assert ticket is not None
        data: dict[str, object] = {"channel": row.channel, "routing_seq": row.routing_seq,
                                   "attempts": row.attempts, "idempotency_key": taken.message.idempotency_key}
        if remote_ref:
            data["remote_ref"] = remote_ref
        record(db_session=db, ticket=ticket, actor=ACTOR, action="delivered",
               from_status=ticket.status, note=explain.SENT(agency=row.agency, channel=row.channel), data=data)


def mark_failed(*, factory: sessionmaker[Session], city: CityConfig, taken: Claim,
                error: DeliveryFailed) -> Outcome:
    """Back to pending with a wait, or a dead letter after the agency's last try."""
    agency = city.agency(taken.agency)
    policy = agency.delivery if agency else None
    text = str(error)[:MAX_ERROR]
    with transaction(factory) as db:
        row = db.scalar(select(Delivery).where(Delivery.id == taken.delivery_id).with_for_update())
        if row is None or row.status != "sending" or row.attempts != taken.attempts:
            return Outcome("skipped", detail="the delivery changed while it was being sent")
        row.last_error = text
        permanent = isinstance(error, PermanentDeliveryError) or policy is None
        if not permanent and policy is not None and row.attempts < policy.max_tries:
            wait = policy.wait_after(row.attempts)
            row.status, row.next_attempt_at = "pending", datetime.now(UTC) + timedelta(seconds=wait)
            return Outcome("retry", retry_in_s=wait, detail=text)
        row.status, row.next_attempt_at = "dead", None
        letter = DeadLetter(delivery_id=row.id, ticket_id=row.ticket_id, agency=row.agency,
                            channel=row.channel, attempts=row.attempts, last_error=text,
                            payload=taken.message.model_dump(mode="json"))
        db.add(letter)
        db.flush()
        ticket = db.get(Ticket, row.ticket_id)
        assert ticket is not None
        record(db_session=db, ticket=ticket, actor=ACTOR, action="delivery_failed",
               from_status=ticket.status,
               note=explain.DELIVERY_FAILED(channel=row.channel, agency=row.agency,
                                         attempts=row.attempts, error=text),
               data={"channel": row.channel, "attempts": row.attempts, "dead_letter_id": letter.id})
        return Outcome("dead", detail=text)


def attempt(*, factory: sessionmaker[Session], city: CityConfig, delivery_id: int,
            env: Mapping[str, str]) -> Outcome:
    """One try of one delivery: claim, send outside any transaction, record the outcome."""
    taken = claim(factory=factory, city=city, delivery_id=delivery_id)
    if taken is None:
        return Outcome("skipped")
    try:
        agency = city.agency(taken.agency)
        if agency is None:
            raise PermanentDeliveryError(f"agency {taken.agency!r} is no longer in the city file")
        remote_ref = build_channel(city, agency, taken.channel, env).send(taken.message)
    except DeliveryFailed as exc:
        log.warning("delivery %s (%s) try %s failed: %s", delivery_id, taken.channel,
                    taken.attempts, exc)
        return mark_failed(factory=factory, city=city, taken=taken, error=exc)
    except Exception as exc:  # a bug or an unexpected library error: dead-letter, never loop
        log.exception("delivery %s (%s) failed unexpectedly", delivery_id, taken.channel)
        unexpected = PermanentDeliveryError(f"unexpected {type(exc).__name__}: {exc}")
        return mark_failed(factory=factory, city=city, taken=taken, error=unexpected)
    mark_sent(factory=factory, taken=taken, remote_ref=remote_ref)
    return Outcome("sent")

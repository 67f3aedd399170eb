"""After routing: the inbox receipt of a ticket and the plan of its agency's outside channels."""

from __future__ import annotations

from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from dispatch.city.config import CityConfig
from dispatch.core.db import transaction
from dispatch.core.queues import enqueue_channel
from dispatch.delivery import dead_letters, outbox
from dispatch.delivery.models import Delivery
from dispatch.i18n import explain
from dispatch.tickets.models import Ticket
from dispatch.tickets.service import record


def record_inbox_delivery(
    *, factory: sessionmaker[Session], ticket_id: int, routing_seq: int, channel: str = "inbox",
    city: CityConfig | None = None,
) -> bool:
    """Record that this routing of the ticket reached its agency's inbox, once; True when new.

    The inbox lists a ticket as soon as routing commits; this row is the receipt the
    sweeper and the delivery report count. With ``city``, the agency's outside channels
    (webhook, e-mail, Open311) are planned in the same transaction as pending rows;
    ``outbox.pending`` lists them for the queue.
    """
    with transaction(factory) as db:
        ticket = db.get(Ticket, ticket_id)
        if ticket is None:
            return False
        return record_inbox_delivery_in(db_session=db, ticket=ticket, routing_seq=routing_seq,
                                        channel=channel, city=city) is not None


def record_inbox_delivery_in(
    *, db_session: Session, ticket: Ticket, routing_seq: int, channel: str = "inbox",
    city: CityConfig | None = None,
) -> list[int] | None:
    """``record_inbox_delivery`` in the caller's transaction: None when there is nothing new
    to record, else the ids of the outside-channel deliveries planned with it (pending rows,
    to be queued once the transaction has committed)."""
    if ticket.routing_seq != routing_seq or ticket.agency is None:
        return None
    inserted = db_session.execute(
        insert(Delivery)
        .values(ticket_id=ticket.id, agency=ticket.agency, channel=channel, routing_seq=routing_seq)
        .on_conflict_do_nothing()
        .returning(Delivery.id)
    ).scalar()
    if inserted is None:
        return None
    record(db_session=db_session, ticket=ticket, actor="system:delivery", action="delivered",
           from_status=ticket.status, note=explain.DELIVERED(agency=ticket.agency, channel=channel),
           data={"channel": channel, "routing_seq": routing_seq})
    return outbox.plan(db_session=db_session, city=city, ticket=ticket) if city is not None else []


def record_fresh_inbox_deliveries(
    *, db_session: Session, city: CityConfig, tickets: list[Ticket],
) -> list[tuple[int, str]]:
    """``record_inbox_delivery_in`` for tickets created in the caller's transaction (so none
    has a delivery yet), written in one flush; then their outside channels are planned.
    Returns (delivery id, agency) of the planned channel rows, to queue after the commit."""
    routed = [ticket for ticket in tickets if ticket.agency is not None]
    for ticket in routed:
        db_session.add(Delivery(ticket_id=ticket.id, agency=ticket.agency, channel="inbox",
                                routing_seq=ticket.routing_seq))
        record(db_session=db_session, ticket=ticket, actor="system:delivery", action="delivered",
               from_status=ticket.status, note=explain.DELIVERED(agency=ticket.agency, channel="inbox"),
               data={"channel": "inbox", "routing_seq": ticket.routing_seq})
    db_session.flush()  # the tickets exist now; the channel rows point at them
    return [(row_id, ticket.agency) for ticket in routed if ticket.agency is not None
            for row_id in outbox.plan(db_session=db_session, city=city, ticket=ticket)]


def retry_dead_letter(*, db_session: Session, dead_letter_id: int, actor: str) -> int:
    """Put a dead letter's delivery back to pending under a lock and queue it after the commit.

    ``AlreadyRetried`` on a second retry of the same letter. A broker that is down then
    leaves the delivery pending, and the sweep queues it. ``db_session`` must not be in a
    transaction: this flow owns it. Returns the delivery's id."""
    with db_session.begin():
        delivery_id, agency = dead_letters.retry(db_session=db_session, dead_letter_id=dead_letter_id,
                                                 actor=actor)
    try:
        enqueue_channel(delivery_id, agency)
    except (BrokerError, OSError):  # committed as pending: the sweep enqueues it
        pass
    db_session.expire_all()
    return delivery_id

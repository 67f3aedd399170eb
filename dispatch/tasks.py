"""Celery tasks: thin, idempotent, keyed by the id of what they work on."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.exc import InterfaceError, OperationalError

from dispatch import flows, scheduled
from dispatch.celery_app import ROUTE_QUEUE, UNDERSTAND_QUEUE, app
from dispatch.db import transaction
from dispatch.models import Ticket
from dispatch.runtime import get_runtime

log = logging.getLogger(__name__)
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
RETRY = {"autoretry_for": TRANSIENT, "retry_backoff": 2, "retry_backoff_max": 120,
         "retry_jitter": True, "max_retries": 20, "acks_late": True}


def enqueue_understand(event_id: uuid.UUID | str) -> None:
    understand_event.apply_async(args=[str(event_id)], queue=UNDERSTAND_QUEUE)


def enqueue_route(incident_id: uuid.UUID | str) -> None:
    route_incident.apply_async(args=[str(incident_id)], queue=ROUTE_QUEUE)


def enqueue_delivery(ticket_id: int, routing_seq: int, agency: str | None) -> None:
    if agency is None:
        return  # a triage ticket waits for a dispatcher, not for a queue
    city = get_runtime().city
    found = city.agency(agency)
    if found is None:
        log.error("ticket %s routed to unknown agency %r", ticket_id, agency)
        return
    deliver_ticket.apply_async(args=[ticket_id, routing_seq], queue=found.queue)


@app.task(name="cityloop.understand_event", **RETRY)
def understand_event(event_id: str) -> str | None:
    rt = get_runtime()
    incident_id = flows.understand_event(
        factory=rt.factory, city=rt.city, chat=rt.chat, event_id=uuid.UUID(event_id),
        embedder=rt.embedder, duplicates=rt.duplicates, vision=rt.config.llm.vision)
    if incident_id is not None:
        enqueue_route(incident_id)
    return str(incident_id) if incident_id else None


@app.task(name="cityloop.route_incident", **RETRY)
def route_incident(incident_id: str) -> int | None:
    rt = get_runtime()
    routed = flows.route_incident(
        factory=rt.factory, city=rt.city, chat=rt.chat, incident_id=uuid.UUID(incident_id))
    if routed is None:
        return None
    ticket_id, seq = routed
    with transaction(rt.factory) as db:
        ticket = db.get(Ticket, ticket_id)
        agency = ticket.agency if ticket else None
    enqueue_delivery(ticket_id, seq, agency)
    return ticket_id


@app.task(name="cityloop.deliver_ticket", **RETRY)
def deliver_ticket(ticket_id: int, routing_seq: int) -> bool:
    return flows.deliver_ticket(
        factory=get_runtime().factory, ticket_id=ticket_id, routing_seq=routing_seq)


@app.task(name="cityloop.sweep", **RETRY)
def sweep() -> dict[str, int]:
    """Re-enqueue work that a lost message or a broker outage left behind."""
    rt = get_runtime()
    after = rt.config.stale_event_after_s
    with transaction(rt.factory) as db:
        events = scheduled.stalled_events(db_session=db, older_than_s=after)
        incidents = scheduled.unrouted_incidents(db_session=db, older_than_s=after)
        tickets = scheduled.undelivered_tickets(db_session=db, older_than_s=after)
    for event_id in events:
        enqueue_understand(event_id)
    for incident_id in incidents:
        enqueue_route(incident_id)
    for ticket_id, seq, agency in tickets:
        enqueue_delivery(ticket_id, seq, agency)
    return {"events": len(events), "incidents": len(incidents), "tickets": len(tickets)}


@app.task(name="cityloop.check_sla", **RETRY)
def check_sla() -> int:
    with transaction(get_runtime().factory) as db:
        return len(scheduled.flag_overdue(db_session=db))


@app.task(name="cityloop.noop")
def noop() -> None:
    """The baseline for benchmarks: a task that does nothing."""

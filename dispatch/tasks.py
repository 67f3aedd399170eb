"""Celery tasks: thin, idempotent, keyed by the id of what they work on."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable

from celery import Task
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from dispatch.cameras import recheck
from dispatch.city.config import CityConfig
from dispatch.core.celery_app import MAINTENANCE_QUEUE, ROUTE_QUEUE, UNDERSTAND_QUEUE, app
from dispatch.core.db import transaction
from dispatch.core.queues import (
    agency_queue,
    enqueue_channel,
    enqueue_delivery,
    enqueue_route,
    enqueue_understand,
)
from dispatch.core.runtime import get_runtime
from dispatch.delivery import flows as delivery_flows
from dispatch.delivery import outbox
from dispatch.delivery.models import Delivery
from dispatch.incidents import batching
from dispatch.incidents.models import Incident
from dispatch.learning.current import LearnedRouter
from dispatch.learning.proposals import with_accepted_rules
from dispatch.quarantine.guard import Guarded
from dispatch.sla import escalation, scheduled
from dispatch.tickets import flows as ticket_flows
from dispatch.tickets.models import Ticket

log = logging.getLogger(__name__)
# a broker outage while a task publishes its next step is retried like a database outage
TRANSIENT = (OperationalError, InterfaceError, BrokerError, ConnectionError, TimeoutError)
RETRY = {"autoretry_for": TRANSIENT, "retry_backoff": 2, "retry_backoff_max": 120,
         "retry_jitter": True, "max_retries": 20, "acks_late": True}


@app.task(name="cityloop.understand_event", base=Guarded, **RETRY)
def understand_event(event_id: str) -> int:
    """The event and the waiting events this worker claims with it (``incidents.batching``),
    each routed as soon as it is understood; how many were understood here."""
    rt = get_runtime()
    done = batching.understand_events(
        engine=rt.engine, factory=rt.factory, city=rt.city, chat=rt.chat, event_id=uuid.UUID(event_id),
        size=rt.config.understand_batch, on_incident=_route_next, embedder=rt.embedder,
        duplicates=rt.duplicates, vision=rt.config.llm.vision,
        learned=rt.learned.category_predictor() if rt.learned else None,
        settle=RouteInline(city=rt.city, router=rt.learned.router() if rt.learned else None)
        if rt.chat is None else None)
    return len(done)


class RouteInline:
    """Without an LLM, the rest of the loop in the understanding batch's own transaction:
    the rules route each incident and its inbox delivery is recorded (what
    ``route_incident`` and ``deliver_ticket`` do, each in their own transaction and task),
    so a batch commits once. The outside channels planned with the delivery are queued after
    the commit; a broker that is down then leaves them pending for the sweep."""

    def __init__(self, *, city: CityConfig, router: LearnedRouter | None = None) -> None:
        self.base_city, self.router = city, router
        self._city: CityConfig | None = None  # with the accepted rule proposals, read once per batch

    def city(self, db_session: Session) -> CityConfig:
        if self._city is None:
            self._city = with_accepted_rules(db_session=db_session, city=self.base_city)
        return self._city

    def fresh(self, db_session: Session, incidents: list[Incident]) -> Callable[[], None] | None:
        tickets = ticket_flows.route_fresh(db_session=db_session, city=self.city(db_session),
                                           incidents=incidents, router=self.router)
        return _sender(delivery_flows.record_fresh_inbox_deliveries(
            db_session=db_session, city=self.base_city, tickets=tickets))

    def __call__(self, db_session: Session, incident_id: uuid.UUID) -> Callable[[], None] | None:
        routed = ticket_flows.route_in_transaction(db_session=db_session, city=self.city(db_session),
                                                   incident_id=incident_id, router=self.router)
        if routed is None or routed.agency is None:
            return None  # gone, or in triage: a triage ticket waits for a dispatcher
        ticket = db_session.get(Ticket, routed.ticket_id)
        assert ticket is not None
        planned = delivery_flows.record_inbox_delivery_in(
            db_session=db_session, ticket=ticket, routing_seq=routed.routing_seq, city=self.base_city)
        return _sender([(delivery_id, routed.agency) for delivery_id in planned or []])


def _sender(planned: list[tuple[int, str]]) -> Callable[[], None] | None:
    """Queue the planned channel deliveries (after the commit); the sweep sends what a broker
    outage leaves pending."""
    if not planned:
        return None

    def send() -> None:
        try:
            for delivery_id, agency in planned:
                enqueue_channel(delivery_id, agency)
        except (BrokerError, OSError) as exc:
            log.warning("%d channel deliveries stored; queueing left to the sweep: %s", len(planned), exc)
    return send


def _route_next(incident_id: uuid.UUID) -> None:
    """Without an LLM, routing is the rules (or triage): done here, not one more queue hop.
    With one, the route stage runs where the LLM workers are (``pipeline.route``)."""
    rt = get_runtime()
    if rt.chat is not None:
        enqueue_route(incident_id)
        return
    routed = ticket_flows.route_incident(factory=rt.factory, city=rt.city, chat=None, incident_id=incident_id,
                                         router=rt.learned.router() if rt.learned else None)
    if routed is not None:
        enqueue_delivery(routed.ticket_id, routed.routing_seq, routed.agency)


@app.task(name="cityloop.route_incident", base=Guarded, **RETRY)
def route_incident(incident_id: str) -> int | None:
    rt = get_runtime()
    routed = ticket_flows.route_incident(
        factory=rt.factory, city=rt.city, chat=rt.chat, incident_id=uuid.UUID(incident_id),
        router=rt.learned.router() if rt.learned else None)
    if routed is None:
        return None
    enqueue_delivery(routed.ticket_id, routed.routing_seq, routed.agency)
    return routed.ticket_id


@app.task(name="cityloop.deliver_ticket", base=Guarded, **RETRY)
def deliver_ticket(ticket_id: int, routing_seq: int) -> bool:
    """The inbox delivery, then one task per outside channel still pending."""
    rt = get_runtime()
    delivered = delivery_flows.record_inbox_delivery(
        factory=rt.factory, ticket_id=ticket_id, routing_seq=routing_seq, city=rt.city)
    with transaction(rt.factory) as db:
        waiting = outbox.pending(db_session=db, ticket_id=ticket_id)
    for delivery_id, agency in waiting:
        enqueue_channel(delivery_id, agency)
    return delivered


@app.task(name="cityloop.deliver_channel", bind=True, **RETRY)
def deliver_channel(self: Task, delivery_id: int) -> str:
    """One try of one channel delivery; the next try is this task again after the
    agency's backoff, until its ``max_tries`` (counted in the delivery row)."""
    rt = get_runtime()
    outcome = outbox.attempt(factory=rt.factory, city=rt.city, delivery_id=delivery_id,
                             env=os.environ)
    if outcome.retry_in_s is not None:
        with transaction(rt.factory) as db:
            agency = db.get(Delivery, delivery_id)
            queue = agency_queue(agency.agency) if agency else MAINTENANCE_QUEUE
        # the row counts the tries (at most 50 by the city file); this only bounds the loop
        raise self.retry(countdown=outcome.retry_in_s, max_retries=100, queue=queue)
    return outcome.status


def queue_depth(queue: str) -> int:
    """Messages waiting in ``queue`` (0 when the broker does not know it or cannot say)."""
    try:
        with app.connection_for_read() as conn:
            return int(conn.default_channel.queue_declare(queue=queue, passive=True).message_count)
    except Exception:  # no such queue yet, or the broker is away: nothing known to be waiting
        return 0


@app.task(name="cityloop.sweep", **RETRY)
def sweep() -> dict[str, int]:
    """Re-enqueue work that a lost message or a broker outage left behind.

    Work whose queue still holds messages is left alone: under a backlog "old" usually means
    "still queued", and re-enqueueing it every sweep would flood the queue with duplicates.
    A message that really was lost is sent again once its queue has drained.
    """
    rt = get_runtime()
    after = rt.config.stale_event_after_s
    depth: dict[str, int] = {}

    def idle(queue: str) -> bool:
        if queue not in depth:
            depth[queue] = queue_depth(queue)
        return depth[queue] == 0

    def agency_idle(agency: str | None) -> bool:
        found = rt.city.agency(agency) if agency else None
        return found is None or idle(found.queue)

    with transaction(rt.factory) as db:
        events = scheduled.stalled_events(db_session=db, older_than_s=after) if idle(UNDERSTAND_QUEUE) else []
        incidents = (scheduled.unrouted_incidents(db_session=db, older_than_s=after)
                     if idle(ROUTE_QUEUE) else [])
        tickets = [t for t in scheduled.undelivered_tickets(db_session=db, older_than_s=after)
                   if agency_idle(t[2])]
        channels = [c for c in outbox.stalled(db_session=db, older_than_s=after) if agency_idle(c[1])]
    for event_id in events:
        enqueue_understand(event_id)
    for incident_id in incidents:
        enqueue_route(incident_id)
    for ticket_id, seq, agency in tickets:
        enqueue_delivery(ticket_id, seq, agency)
    for delivery_id, agency in channels:
        enqueue_channel(delivery_id, agency)
    return {"events": len(events), "incidents": len(incidents), "tickets": len(tickets),
            "channels": len(channels), "backlogged_queues": sum(1 for n in depth.values() if n)}


@app.task(name="cityloop.check_sla", **RETRY)
def check_sla() -> dict[str, int]:
    """Flag overdue tickets, escalate them as the city file says, then e-mail supervisors."""
    rt = get_runtime()
    with transaction(rt.factory) as db:
        flagged = scheduled.flag_overdue(db_session=db)
        escalated = escalation.escalate_overdue(db_session=db, city=rt.city)
    for item in escalated:
        if item.delivery_id is not None and item.agency is not None:
            enqueue_channel(item.delivery_id, item.agency)
    return {"flagged": len(flagged), "escalated": len(escalated)}


@app.task(name="cityloop.run_rechecks", **RETRY)
def run_rechecks() -> dict[str, int]:
    """Schedule re-checks of resolved camera tickets; run the due ones."""
    rt = get_runtime()
    with transaction(rt.factory) as db:
        scheduled_ids = recheck.schedule(db_session=db, city=rt.city)
    outcomes = recheck.run_due(factory=rt.factory, city=rt.city, runner=recheck.registered_runner())
    counts = {"scheduled": len(scheduled_ids)}
    for status in outcomes.values():
        counts[status] = counts.get(status, 0) + 1
    return counts


@app.task(name="cityloop.retrain")
def retrain() -> dict[str, str]:
    """Nightly: retrain the learned models on the history and every correction; each new model
    replaces the current one only if it scores at least as well on the held-out slice."""
    from dispatch.learning.flows import retrain as retrain_models

    rt = get_runtime()
    results = retrain_models(factory=rt.factory, city=rt.city, source="nightly")
    summary = {kind: (f"v{r.version} {'promoted' if r.promoted else 'kept as candidate'} "
                      f"({100 * r.accuracy:.1f}%)" if not isinstance(r, str) else f"not trained: {r}")
               for kind, r in results.items()}
    log.info("retrain: %s", summary)
    return summary


@app.task(name="cityloop.noop")
def noop() -> None:
    """The baseline for benchmarks: a task that does nothing."""

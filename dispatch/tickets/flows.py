"""Route an incident: rules first, the LLM among the configured agencies, triage when unsure;
then write the ticket. Keyed by the incident's id and safe to run twice.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from kombu.exceptions import OperationalError as BrokerError
from langchain_core.language_models import BaseChatModel
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from agents import (
    AgencySpec,
    LLMUnavailable,
    choose_agency,
)
from dispatch.accounts.models import User
from dispatch.city.config import CityConfig
from dispatch.city.routing import RoutingDecision, RoutingInput, route_by_config
from dispatch.core.db import transaction
from dispatch.core.errors import InvalidField
from dispatch.core.queues import enqueue_channel, enqueue_delivery, enqueue_route
from dispatch.delivery import outbox
from dispatch.i18n import explain
from dispatch.incidents.models import Incident
from dispatch.intake.models import Event
from dispatch.learning.corrections import record_category_correction, record_correction
from dispatch.learning.current import LearnedRouter
from dispatch.learning.proposals import with_accepted_rules
from dispatch.tickets import access
from dispatch.tickets.actions import apply_action, change_category
from dispatch.tickets.lifecycle import Action
from dispatch.tickets.models import Ticket
from dispatch.tickets.schemas import ActionRequest
from dispatch.tickets.service import record, ticket_for_incident

log = logging.getLogger(__name__)

ROUTER_ACTOR = "system:router"


class RoutedTicket(NamedTuple):
    """The ticket an incident became, and which routing of it this is (1, 2, ... per reroute)."""

    ticket_id: int
    routing_seq: int
    agency: str | None = None  # None: in triage, waiting for a dispatcher


def _decide(
    *, city: CityConfig, chat: BaseChatModel | None, incident: Incident, text: str,
    at: datetime, exclude: frozenset[str], router: LearnedRouter | None = None,
) -> RoutingDecision:
    """Rules, the category's default agency, the learned router, then the LLM among the
    remaining agencies; unsure -> triage (the precedence is in ``dispatch.city.routing``)."""
    item = RoutingInput(category=incident.category, district=incident.district, text=text, at=at)
    decided = route_by_config(city, item, exclude=exclude)
    if decided is not None:
        return decided
    learned = router.choose(item, exclude=exclude) if router is not None else None
    if learned is not None:
        return learned
    candidates = [a for a in city.agencies if a.code not in exclude]
    if chat is None or not candidates:
        why = explain.NO_AGENCY_LEFT() if not candidates else explain.NO_RULE_NO_LLM()
        return RoutingDecision(method="triage", agency=None, reason=why)
    specs = [AgencySpec(code=a.code, name=a.name, description=a.description) for a in candidates]
    try:
        choice = choose_agency(chat, text=text, category=incident.category, agencies=specs)
    except LLMUnavailable as exc:
        return RoutingDecision(method="triage", agency=None,
                               reason=explain.LLM_UNAVAILABLE(error=exc))
    threshold = city.routing.llm_confidence_threshold
    sure = choice.confidence >= threshold
    return RoutingDecision(
        method="llm" if sure else "triage", agency=choice.agency if sure else None,
        llm_choice=None if sure else choice.agency, rationale=choice.rationale,
        confidence=choice.confidence, prompt_version=choice.prompt_version, model=choice.model,
        reason=(explain.LLM_CHOSE(agency=choice.agency) if sure
                else explain.LLM_UNSURE(confidence=choice.confidence, threshold=threshold)))


def route_incident(
    *, factory: sessionmaker[Session], city: CityConfig, chat: BaseChatModel | None,
    incident_id: uuid.UUID, router: LearnedRouter | None = None,
) -> RoutedTicket | None:
    """Incident -> Ticket on an agency queue (or triage); None when the incident is gone."""
    with transaction(factory) as db:
        city = with_accepted_rules(db_session=db, city=city)
        incident = db.get(Incident, incident_id)
        if incident is None:
            log.warning("route_incident: incident %s does not exist", incident_id)
            return None
        ticket = ticket_for_incident(db_session=db, incident_id=incident_id)
        if ticket is not None and ticket.status != "rejected":
            return RoutedTicket(ticket_id=ticket.id, routing_seq=ticket.routing_seq, agency=ticket.agency)
        event = db.get(Event, incident.origin_event_id)
        assert event is not None
        text = f"{incident.title}. {event.text}"
        at = event.occurred_at or event.received_at
        exclude = frozenset(ticket.rejected_by) if ticket else frozenset()
        db.expunge_all()
    decision = _decision(city=city, chat=chat, incident=incident, text=text, at=at, exclude=exclude,
                         router=router)
    return _write_ticket(factory=factory, city=city, incident=incident, decision=decision)


def route_in_transaction(
    *, db_session: Session, city: CityConfig, incident_id: uuid.UUID,
    router: LearnedRouter | None = None,
) -> RoutedTicket | None:
    """``route_incident`` without an LLM, in the caller's transaction (the batch of
    ``incidents.batching`` that understood the incident): rules, the category's default
    agency, the learned router, else triage. ``city`` carries the accepted rule proposals
    already (``with_accepted_rules``). None when the incident is gone."""
    incident = db_session.get(Incident, incident_id)
    if incident is None:
        log.warning("route_in_transaction: incident %s does not exist", incident_id)
        return None
    ticket = db_session.scalar(
        select(Ticket).where(Ticket.incident_id == incident_id).with_for_update(of=Ticket))
    if ticket is not None and ticket.status != "rejected":
        return RoutedTicket(ticket_id=ticket.id, routing_seq=ticket.routing_seq, agency=ticket.agency)
    event = db_session.get(Event, incident.origin_event_id)
    assert event is not None
    exclude = frozenset(ticket.rejected_by) if ticket else frozenset()
    decision = _decision(city=city, chat=None, incident=incident, text=f"{incident.title}. {event.text}",
                         at=event.occurred_at or event.received_at, exclude=exclude, router=router)
    return _write_ticket_in(db_session, city=city, incident=incident, decision=decision, ticket=ticket)


def _decision(
    *, city: CityConfig, chat: BaseChatModel | None, incident: Incident, text: str, at: datetime,
    exclude: frozenset[str], router: LearnedRouter | None,
) -> RoutingDecision:
    rejections = len(exclude)
    if rejections >= city.routing.max_rejections:
        decision = RoutingDecision(method="triage", agency=None,
                                   reason=explain.REJECTED_TOO_OFTEN(count=rejections))
    else:
        decision = _decide(city=city, chat=chat, incident=incident, text=text, at=at, exclude=exclude,
                           router=router)
    if exclude:
        decision.excluded_agencies = sorted(exclude)
    return decision


NEXT_TICKET_IDS = text("SELECT nextval(pg_get_serial_sequence('tickets', 'id')) FROM generate_series(1, :n)")


def _next_ticket_id(db: Session) -> int:
    return int(db.execute(NEXT_TICKET_IDS, {"n": 1}).scalar_one())


def _new_ticket(
    db: Session, *, ticket_id: int, city: CityConfig, incident: Incident, decision: RoutingDecision,
) -> Ticket:
    """A new ticket and its ``routed`` history entry, added to the session (not flushed)."""
    agency = decision.agency
    status = "open" if agency else "triage"
    category = city.category(incident.category)
    sla_hours = category.sla_hours if category else 72.0
    ticket = Ticket(
        id=ticket_id, reference=f"{datetime.now(UTC).year}-{ticket_id:05d}", incident_id=incident.id,
        agency=agency, status=status, priority=category.priority if category else "low",
        category=incident.category, district=incident.district, title=incident.title,
        needs_triage=incident.needs_triage or status == "triage", routing=decision.as_json(),
        routing_seq=1, rejected_by=[], sla_due_at=datetime.now(UTC) + timedelta(hours=sla_hours),
    )
    db.add(ticket)
    record(db_session=db, ticket=ticket, actor=ROUTER_ACTOR, action="routed",
           from_status=None, note=decision.reason, data=decision.as_json())
    return ticket


def route_fresh(
    *, db_session: Session, city: CityConfig, incidents: list[Incident],
    router: LearnedRouter | None = None,
) -> list[Ticket]:
    """``route_in_transaction`` for incidents created in the caller's transaction (so none has a
    ticket): their ids taken from the sequence in one statement, the tickets and their history
    written in one flush. ``city`` carries the accepted rule proposals already."""
    if not incidents:
        return []
    ids = [int(i) for i in db_session.scalars(NEXT_TICKET_IDS, {"n": len(incidents)})]
    tickets = []
    for ticket_id, incident in zip(ids, incidents, strict=True):
        event = db_session.get(Event, incident.origin_event_id)  # locked by the caller: no query
        assert event is not None
        decision = _decision(city=city, chat=None, incident=incident, text=f"{incident.title}. {event.text}",
                             at=event.occurred_at or event.received_at, exclude=frozenset(), router=router)
        tickets.append(_new_ticket(db_session, ticket_id=ticket_id, city=city, incident=incident,
                                   decision=decision))
    db_session.flush()
    return tickets


def _write_ticket(
    *, factory: sessionmaker[Session], city: CityConfig, incident: Incident,
    decision: RoutingDecision,
) -> RoutedTicket:
    try:
        with transaction(factory) as db:
            ticket = db.scalar(
                select(Ticket).where(Ticket.incident_id == incident.id).with_for_update(of=Ticket)
            )
            return _write_ticket_in(db, city=city, incident=incident, decision=decision, ticket=ticket)
    except IntegrityError:  # a concurrent delivery of the same task created it first
        with transaction(factory) as db:
            existing = ticket_for_incident(db_session=db, incident_id=incident.id)
            assert existing is not None
            return RoutedTicket(ticket_id=existing.id, routing_seq=existing.routing_seq, agency=existing.agency)


def _write_ticket_in(
    db: Session, *, city: CityConfig, incident: Incident, decision: RoutingDecision,
    ticket: Ticket | None,
) -> RoutedTicket:
    """The new ticket, or the rejected one (row-locked) rerouted; in the caller's transaction."""
    agency = decision.agency
    status = "open" if agency else "triage"
    needs_triage = incident.needs_triage or status == "triage"
    if ticket is None:
        ticket = _new_ticket(db, ticket_id=_next_ticket_id(db), city=city, incident=incident, decision=decision)
        db.flush()
    elif ticket.status == "rejected":
        before = ticket.status
        # the rejecting agency's colleague cannot see the ticket any more
        unassigned = {"unassigned": ticket.assignee} if ticket.assignee else {}
        ticket.agency, ticket.status = agency, status
        ticket.needs_triage, ticket.assignee = needs_triage, None
        ticket.arrived_at = datetime.now(UTC)
        ticket.routing, ticket.routing_seq = decision.as_json(), ticket.routing_seq + 1
        record(db_session=db, ticket=ticket, actor=ROUTER_ACTOR, action="rerouted",
               from_status=before, note=decision.reason,
               data={**decision.as_json(), **unassigned})
    return RoutedTicket(ticket_id=ticket.id, routing_seq=ticket.routing_seq, agency=ticket.agency)


def take_action(*, db_session: Session, city: CityConfig, user: User, ticket_id: int, action: Action,
                note: str | None = None, reason: str | None = None, agency: str | None = None,
                rating: str | None = None) -> None:
    """One lifecycle action by a signed-in user, for the JSON API and the pages alike.

    The ticket is locked, the user's right to see it and to take the action is checked under
    that lock, the action is applied and recorded with the user as the actor, and follow-up
    work is enqueued after the commit. A broker that is down then is not the user's error:
    the change stands and the sweeper sends the lost message (``dispatch.tasks.sweep``).
    """
    try:
        request = ActionRequest.model_validate({  # a rating other than the three is InvalidField
            "actor": user.username, "note": note or None, "reason": reason or None,
            "agency": agency or None, "rating": rating or None})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidField(".".join(str(p) for p in err["loc"]), err["msg"]) from None
    with db_session.begin():
        previous_agency = access.visible_ticket(db_session=db_session, user=user, ticket_id=ticket_id,
                                                for_update=True).agency
        access.check_action(user, action)
        ticket, follow = apply_action(db_session=db_session, city=city, ticket_id=ticket_id,
                                      action=action, request=request)
        record_correction(db_session=db_session, city=city, ticket=ticket, action=action,
                          actor=user.username, wrong_agency=previous_agency, right_agency=request.agency)
        published = outbox.add_change(db_session=db_session, city=city, ticket=ticket)
        incident_id, ticket_agency = ticket.incident_id, ticket.agency
    try:
        if follow.kind == "reroute":
            enqueue_route(incident_id)
        elif follow.kind == "deliver":
            enqueue_delivery(follow.ticket_id, follow.routing_seq, ticket_agency)
        if published is not None and ticket_agency is not None:
            enqueue_channel(published, ticket_agency)
    except (BrokerError, OSError) as exc:
        log.warning("ticket %s: %s stored; follow-up left to the sweeper: %s", ticket_id, action, exc)
    db_session.expire_all()


def recategorize(*, db_session: Session, city: CityConfig, user: User, ticket_id: int,
                 category: str | None, note: str | None = None) -> None:
    """A category change by a signed-in user (pages and JSON API alike): the ticket is locked,
    the user's right to see it and to change it is checked under that lock, the change is
    recorded in the history, and the ticket's text becomes a labelled example of the new
    category (``dispatch.learning.corrections``). The agency stays; the change is published on
    MQTT when the city publishes tickets there."""
    if note is not None and len(note) > 4000:
        raise InvalidField("note", explain.TOO_LONG(limit=4000))
    with db_session.begin():
        access.visible_ticket(db_session=db_session, user=user, ticket_id=ticket_id, for_update=True)
        if not access.may(user, access.RECATEGORIZE):
            raise access.AccessDenied(f"the role {user.role!r} may not change a ticket's category")
        ticket, previous = change_category(db_session=db_session, city=city, ticket_id=ticket_id,
                                           category=category, actor=user.username, note=note)
        record_category_correction(db_session=db_session, ticket=ticket, actor=user.username,
                                   wrong_category=previous, right_category=ticket.category)
        published = outbox.add_change(db_session=db_session, city=city, ticket=ticket)
        ticket_agency = ticket.agency
    if published is not None and ticket_agency is not None:
        try:
            enqueue_channel(published, ticket_agency)
        except (BrokerError, OSError) as exc:
            log.warning("ticket %s: category change stored; publication left to the sweeper: %s",
                        ticket_id, exc)
    db_session.expire_all()

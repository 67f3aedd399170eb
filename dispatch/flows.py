"""Orchestration of one step each: understand an event, route an incident, deliver a ticket.

Every flow is keyed by the id of what it works on and is safe to run twice: a redelivered
task finds the work done and returns the same result. LLM calls happen outside any
transaction; the write re-checks the state under a row lock.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from langchain_core.language_models import BaseChatModel
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from agents import (
    AgencySpec,
    CategorySpec,
    Classification,
    EventFacts,
    LLMUnavailable,
    choose_agency,
    classify,
    fallback_writeup,
    write_incident,
)
from agents.duplicates import DuplicatePolicy, DuplicateVerdict, Sighting, judge
from agents.embeddings import Embedder, Vector
from agents.verifier import Snapshot, Verification, verify_snapshot
from dispatch.cityconfig import CityConfig
from dispatch.db import transaction
from dispatch.delivery import outbox
from dispatch.merging import find_candidates, lock_incident_creation, merge_event
from dispatch.models import Delivery, Event, Incident, Ticket
from dispatch.routing import RoutingInput, match_rule
from dispatch.services import record, ticket_for_incident

log = logging.getLogger(__name__)
INTAKE_ACTOR = "system:intake"
ROUTER_ACTOR = "system:router"


def category_specs(city: CityConfig) -> list[CategorySpec]:
    return [
        CategorySpec(code=c.code, name=c.name, description=c.description, keywords=c.keywords,
                     examples=[*c.detector_prompts, *c.keywords])
        for c in city.categories
    ]


def _facts(event: Event, city: CityConfig, category: str) -> EventFacts:
    cat = city.category(category)
    return EventFacts(
        description=event.description, source=event.source, category=category,
        category_name=cat.name if cat else category, occurred_at=event.occurred_at,
        address=event.address, district=event.district, lat=event.lat, lon=event.lon,
    )


def _embed(embedder: Embedder | None, text: str) -> Vector | None:
    """The text's vector, or ``None`` without an embedder or when embedding fails."""
    if embedder is None or not text.strip():
        return None
    try:
        vectors: Vector = embedder.embed([text])
    except (OSError, RuntimeError, ValueError, ImportError) as exc:
        log.warning("embedding failed, continuing without it: %s", exc)
        return None
    vector: Vector = vectors[0]
    return vector


def _sighting(event: Event, category: str, vector: Vector | None) -> Sighting:
    return Sighting(
        text=event.description, category=category, lat=event.lat, lon=event.lon,
        at=event.occurred_at or event.received_at,
        embedding=[round(float(x), 6) for x in vector] if vector is not None else None)


def _triage_reasons(result: Classification, city: CityConfig) -> list[str]:
    reasons = []
    if result.method == "fallback":
        why = result.llm_error if city.routing.classify_with_llm else "LLM classification is off"
        reasons.append(f"classifier: no keyword or embedding match ({why}); "
                       f"a dispatcher should confirm the category")
    if result.method == "llm" and city.routing.review_llm_only_categories:
        reasons.append(
            f"category {result.category!r} chosen by the LLM alone "
            f"(confidence {result.confidence:.2f}); a dispatcher should confirm it")
    return reasons


def _category_name(city: CityConfig, code: str) -> str:
    category = city.category(code)
    return category.name if category else code


def understand_event(
    *, factory: sessionmaker[Session], city: CityConfig, chat: BaseChatModel | None,
    event_id: uuid.UUID, embedder: Embedder | None = None,
    duplicates: DuplicatePolicy | None = None, vision: bool = False,
) -> uuid.UUID | None:
    """Event -> its incident: an open duplicate it joins, or a new classified, written-up one.

    ``duplicates`` is the duplicate judge's policy; ``None`` never merges (every event
    gets its own incident, as callers that create tickets one by one expect).
    """
    with transaction(factory) as db:
        event = db.get(Event, event_id)
        if event is None:
            log.warning("understand_event: event %s does not exist", event_id)
            return None
        if event.incident_id is not None:
            return event.incident_id
        snapshot = (Snapshot(data=event.image, content_type=event.image_content_type)
                    if event.image is not None and event.image_content_type else None)
        db.expunge(event)
    vector = _embed(embedder, event.description)
    result = classify(
        text=event.description, categories=category_specs(city),
        chat=chat if city.routing.classify_with_llm else None, hint=event.category_hint, fallback_code=city.fallback_category,
        embedder=embedder, text_vector=vector,
    )
    sighting = _sighting(event, result.category, vector)
    seen: set[str] = set()
    if duplicates is not None:
        with transaction(factory) as db:
            candidates = find_candidates(db_session=db, sighting=sighting, policy=duplicates)
        verdict = judge(sighting, candidates, chat=chat, policy=duplicates)
        if verdict.incident_id is not None:
            merged = _merge(factory, event_id, uuid.UUID(verdict.incident_id), verdict,
                            result.flags)
            if merged is not None:
                return merged
        seen = {c.incident_id for c in candidates}
    verification = verify_snapshot(
        chat, vision=vision, snapshot=snapshot, report=event.description,
        category_name=_category_name(city, result.category))
    return _create_incident(factory=factory, city=city, chat=chat, event=event, result=result,
                            sighting=sighting, policy=duplicates, seen=seen,
                            verification=verification)


def _merge(
    factory: sessionmaker[Session], event_id: uuid.UUID, incident_id: uuid.UUID,
    verdict: DuplicateVerdict, flags: list[str],
) -> uuid.UUID | None:
    """The incident the event now belongs to, or ``None`` when the target closed meanwhile."""
    with transaction(factory) as db:
        locked = db.scalar(select(Event).where(Event.id == event_id).with_for_update())
        assert locked is not None
        if locked.incident_id is not None:  # another delivery of this task won the race
            return locked.incident_id
        if merge_event(db_session=db, event=locked, incident_id=incident_id, verdict=verdict,
                       flags=flags):
            return incident_id
        return None


def _create_incident(
    *, factory: sessionmaker[Session], city: CityConfig, chat: BaseChatModel | None,
    event: Event, result: Classification, sighting: Sighting, policy: DuplicatePolicy | None,
    seen: set[str], verification: Verification,
) -> uuid.UUID:
    triage_reasons = _triage_reasons(result, city)
    if verification.status == "rejected":
        triage_reasons.append(f"verifier: the snapshot does not show {result.category!r}")
    facts = _facts(event, city, result.category)
    try:
        writeup = write_incident(chat, facts=facts) if chat is not None else fallback_writeup(facts)
    except LLMUnavailable as exc:
        writeup = fallback_writeup(facts)
        triage_reasons.append(f"writer: {exc}")
    if chat is None:
        triage_reasons.append("LLM not configured")
    if result.flags:
        triage_reasons.append("flags: " + ", ".join(result.flags))
    with transaction(factory) as db:
        locked = db.scalar(select(Event).where(Event.id == event.id).with_for_update())
        assert locked is not None
        if locked.incident_id is not None:  # another delivery of this task won the race
            return locked.incident_id
        if policy is not None:
            late = _late_duplicate(db, locked, sighting, policy, seen, result.flags)
            if late is not None:
                return late
        incident = Incident(
            id=uuid.uuid4(), origin_event_id=event.id, category=result.category,
            severity=result.severity, title=writeup.title, description=writeup.description,
            location_phrase=writeup.location_phrase, recommended_action=writeup.recommended_action,
            lat=event.lat, lon=event.lon, district=event.district,
            classification={**result.model_dump(mode="json"),
                            "verification": verification.model_dump(mode="json")},
            writeup=writeup.model_dump(mode="json"),
            needs_triage=bool(triage_reasons), triage_reasons=triage_reasons,
            embedding=sighting.embedding,
        )
        db.add(incident)
        db.flush()
        locked.incident_id = incident.id
        locked.status = "processed"
        locked.flags = sorted(set(locked.flags) | set(result.flags))
        locked.processed_at = datetime.now(UTC)
        return incident.id


def _late_duplicate(
    db: Session, event: Event, sighting: Sighting, policy: DuplicatePolicy, seen: set[str],
    flags: list[str],
) -> uuid.UUID | None:
    """Under the creation lock: join an incident created while this event was understood.

    Only the rules decide here (no LLM call inside a transaction).
    """
    lock_incident_creation(db)
    fresh = [c for c in find_candidates(db_session=db, sighting=sighting, policy=policy)
             if c.incident_id not in seen]
    late = judge(sighting, fresh, chat=None, policy=policy)
    if late.incident_id is not None and merge_event(
            db_session=db, event=event, incident_id=uuid.UUID(late.incident_id), verdict=late,
            flags=flags):
        return uuid.UUID(late.incident_id)
    return None


def _decide(
    *, city: CityConfig, chat: BaseChatModel | None, incident: Incident, text: str,
    at: datetime, exclude: frozenset[str],
) -> dict[str, object]:
    """Rules first; the LLM chooses among the remaining agencies; unsure -> triage."""
    item = RoutingInput(category=incident.category, district=incident.district, text=text, at=at)
    match = match_rule(city, item, exclude=exclude)
    if match is not None:
        return {"method": "rule", "rule_id": match.rule_id, "agency": match.agency,
                "reason": f"rule {match.rule_id!r} matched"}
    candidates = [a for a in city.agencies if a.code not in exclude]
    if chat is None or not candidates:
        why = "no agency left" if not candidates else "no rule matched and the LLM is not configured"
        return {"method": "triage", "agency": None, "reason": why}
    specs = [AgencySpec(code=a.code, name=a.name, description=a.description) for a in candidates]
    try:
        choice = choose_agency(chat, text=text, category=incident.category, agencies=specs)
    except LLMUnavailable as exc:
        return {"method": "triage", "agency": None, "reason": f"no rule matched; LLM unavailable: {exc}"}
    decision = {"method": "llm", "agency": choice.agency, "rationale": choice.rationale,
                "confidence": choice.confidence, "prompt_version": choice.prompt_version,
                "model": choice.model}
    if choice.confidence < city.routing.llm_confidence_threshold:
        decision |= {"method": "triage", "agency": None, "llm_choice": choice.agency,
                     "reason": f"LLM confidence {choice.confidence:.2f} below threshold "
                               f"{city.routing.llm_confidence_threshold:.2f}"}
    else:
        decision["reason"] = f"no rule matched; LLM chose {choice.agency}"
    return decision


def route_incident(
    *, factory: sessionmaker[Session], city: CityConfig, chat: BaseChatModel | None,
    incident_id: uuid.UUID,
) -> tuple[int, int] | None:
    """Incident -> Ticket on an agency queue (or triage). Returns (ticket id, routing seq)."""
    with transaction(factory) as db:
        incident = db.get(Incident, incident_id)
        if incident is None:
            log.warning("route_incident: incident %s does not exist", incident_id)
            return None
        ticket = ticket_for_incident(db_session=db, incident_id=incident_id)
        if ticket is not None and ticket.status != "rejected":
            return ticket.id, ticket.routing_seq
        event = db.get(Event, incident.origin_event_id)
        assert event is not None
        text = f"{incident.title}. {event.description}"
        at = event.occurred_at or event.received_at
        exclude = frozenset(ticket.rejected_by) if ticket else frozenset()
        rejections = len(exclude)
        db.expunge_all()
    if rejections >= city.routing.max_rejections:
        decision: dict[str, object] = {
            "method": "triage", "agency": None,
            "reason": f"rejected {rejections} times; a dispatcher decides"}
    else:
        decision = _decide(city=city, chat=chat, incident=incident, text=text, at=at, exclude=exclude)
    if exclude:
        decision["excluded_agencies"] = sorted(exclude)
    return _write_ticket(factory=factory, city=city, incident=incident, decision=decision)


def _next_reference(db: Session) -> tuple[int, str]:
    ticket_id = int(db.scalar(text("SELECT nextval(pg_get_serial_sequence('tickets', 'id'))")))
    return ticket_id, f"{datetime.now(UTC).year}-{ticket_id:05d}"


def _write_ticket(
    *, factory: sessionmaker[Session], city: CityConfig, incident: Incident,
    decision: dict[str, object],
) -> tuple[int, int]:
    agency = decision.get("agency")
    status = "open" if agency else "triage"
    needs_triage = incident.needs_triage or status == "triage"
    category = city.category(incident.category)
    sla_hours = category.sla_hours if category else 72.0
    try:
        with transaction(factory) as db:
            ticket = db.scalar(
                select(Ticket).where(Ticket.incident_id == incident.id).with_for_update(of=Ticket)
            )
            if ticket is None:
                ticket_id, reference = _next_reference(db)
                ticket = Ticket(
                    id=ticket_id, reference=reference, incident_id=incident.id,
                    agency=agency, status=status, priority=category.priority if category else "low",
                    category=incident.category, district=incident.district, title=incident.title,
                    needs_triage=needs_triage, routing=decision, routing_seq=1, rejected_by=[],
                    sla_due_at=datetime.now(UTC) + timedelta(hours=sla_hours),
                )
                db.add(ticket)
                db.flush()
                record(db_session=db, ticket=ticket, actor=ROUTER_ACTOR, action="routed",
                       from_status=None, note=str(decision.get("reason", "")), data=decision)
            elif ticket.status == "rejected":
                before = ticket.status
                # the rejecting agency's colleague cannot see the ticket any more
                unassigned = {"unassigned": ticket.assignee} if ticket.assignee else {}
                ticket.agency, ticket.status = agency, status  # type: ignore[assignment]
                ticket.needs_triage, ticket.assignee = needs_triage, None
                ticket.arrived_at = datetime.now(UTC)
                ticket.routing, ticket.routing_seq = decision, ticket.routing_seq + 1
                record(db_session=db, ticket=ticket, actor=ROUTER_ACTOR, action="rerouted",
                       from_status=before, note=str(decision.get("reason", "")),
                       data={**decision, **unassigned})
            return ticket.id, ticket.routing_seq
    except IntegrityError:  # a concurrent delivery of the same task created it first
        with transaction(factory) as db:
            existing = ticket_for_incident(db_session=db, incident_id=incident.id)
            assert existing is not None
            return existing.id, existing.routing_seq


def deliver_ticket(
    *, factory: sessionmaker[Session], ticket_id: int, routing_seq: int, channel: str = "inbox",
    city: CityConfig | None = None,
) -> bool:
    """Put the ticket in its agency's inbox once per routing. True when newly delivered.

    With ``city``, the agency's outside channels (webhook, e-mail, Open311) are planned in
    the same transaction as pending rows; ``outbox.pending`` lists them for the queue.
    """
    with transaction(factory) as db:
        ticket = db.get(Ticket, ticket_id)
        if ticket is None or ticket.routing_seq != routing_seq or ticket.agency is None:
            return False
        inserted = db.execute(
            insert(Delivery)
            .values(ticket_id=ticket_id, agency=ticket.agency, channel=channel,
                    routing_seq=routing_seq)
            .on_conflict_do_nothing()
            .returning(Delivery.id)
        ).scalar()
        if inserted is None:
            return False
        record(db_session=db, ticket=ticket, actor="system:delivery", action="delivered",
               from_status=ticket.status, note=f"delivered to the {ticket.agency} {channel}",
               data={"channel": channel, "routing_seq": routing_seq})
        if city is not None:
            outbox.plan(db_session=db, city=city, ticket=ticket)
        return True

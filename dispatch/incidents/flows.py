"""Understand an event: classify, write up, verify, merge into an open incident or start one.

Keyed by the event's id and safe to run twice: a redelivered message finds the event
processed and does nothing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from langchain_core.language_models import BaseChatModel
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agents import (
    CategorySpec,
    Classification,
    EventFacts,
    LLMUnavailable,
    Writeup,
    classify,
    fallback_writeup,
    write_incident,
)
from agents.classifier import LearnedPredict
from agents.duplicates import Candidate, DuplicatePolicy, DuplicateVerdict, Sighting, judge
from agents.embeddings import Embedder, Vector
from agents.text import clean
from agents.verifier import Snapshot, Verification, verify_snapshot
from dispatch.city.config import CityConfig
from dispatch.core.db import transaction
from dispatch.i18n import explain
from dispatch.incidents.merging import (
    MAX_CANDIDATES,
    find_candidates,
    lock_incident_creation,
    merge_event,
)
from dispatch.incidents.models import Incident
from dispatch.intake.models import Event
from dispatch.intake.service import flag_reasons

log = logging.getLogger(__name__)


INTAKE_ACTOR = "system:intake"


def category_specs(city: CityConfig) -> list[CategorySpec]:
    return [
        CategorySpec(code=c.code, name=c.name, description=c.description, keywords=c.keywords,
                     examples=[*c.detector_prompts, *c.keywords])
        for c in city.categories
    ]


def _facts(event: Event, city: CityConfig, category: str) -> EventFacts:
    cat = city.category(category)
    vocabulary = [cat.description, *cat.keywords, *cat.detector_prompts] if cat else []
    district = next((d.name for d, _ in city.district_shapes if d.code == event.district), None)
    return EventFacts(
        description=event.text, source=event.source, category=category,
        category_name=cat.name if cat else category, occurred_at=event.occurred_at,
        address=clean(event.address).text if event.address else None,
        district=district or event.district, lat=event.lat, lon=event.lon,
        vocabulary=vocabulary, actions=list(cat.actions) if cat else [],
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
        text=event.text, category=category, lat=event.lat, lon=event.lon,
        at=event.occurred_at or event.received_at,
        embedding=[round(float(x), 6) for x in vector] if vector is not None else None)


def _triage_reasons(result: Classification, city: CityConfig) -> list[str]:
    reasons = []
    if result.method == "fallback":
        why = result.llm_error if city.routing.classify_with_llm else explain.LLM_CLASSIFICATION_OFF()
        reasons.append(explain.CLASSIFIER_FALLBACK(why=why))
    if result.method == "llm" and city.routing.review_llm_only_categories:
        reasons.append(explain.LLM_ONLY_CATEGORY(category=result.category, confidence=result.confidence))
    return reasons


def _category_name(city: CityConfig, code: str) -> str:
    category = city.category(code)
    return category.name if category else code


def _snapshot(event: Event) -> Snapshot | None:
    if event.image is None or not event.image_content_type:
        return None
    return Snapshot.model_validate({"data": event.image, "content_type": event.image_content_type})


def _classify(
    *, city: CityConfig, chat: BaseChatModel | None, event: Event, embedder: Embedder | None,
    vector: Vector | None, learned: LearnedPredict | None,
) -> tuple[Classification, Sighting]:
    """The event's category (with the intake flags) and its sighting for the duplicate judge."""
    if vector is None:
        vector = _embed(embedder, event.text)
    result = classify(
        text=event.text, categories=category_specs(city),
        chat=chat if city.routing.classify_with_llm else None, hint=event.category_hint,
        fallback_code=city.fallback_category,
        embedder=embedder, text_vector=vector, learned=learned,
    )
    result = result.model_copy(update={"flags": sorted(set(event.flags) | set(result.flags))})
    return result, _sighting(event, result.category, vector)


def understand_event(
    *, factory: sessionmaker[Session], city: CityConfig, chat: BaseChatModel | None,
    event_id: uuid.UUID, embedder: Embedder | None = None,
    duplicates: DuplicatePolicy | None = None, vision: bool = False, vector: Vector | None = None,
    learned: LearnedPredict | None = None,
) -> uuid.UUID | None:
    """Event -> its incident: an open duplicate it joins, or a new classified, written-up one.

    ``duplicates`` is the duplicate judge's policy; ``None`` never merges (every event
    gets its own incident, as callers that create tickets one by one expect). ``vector`` is
    the embedding of ``event.text`` when the caller made it already (``incidents.batching``).
    """
    with transaction(factory) as db:
        event = db.get(Event, event_id)
        if event is None:
            log.warning("understand_event: event %s does not exist", event_id)
            return None
        if event.incident_id is not None:
            return event.incident_id
        snapshot = _snapshot(event)
        db.expunge(event)
    result, sighting = _classify(city=city, chat=chat, event=event, embedder=embedder, vector=vector,
                                 learned=learned)
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
    draft = draft_incident(city=city, chat=chat, event=event, result=result, sighting=sighting,
                           snapshot=snapshot, vision=vision)
    with transaction(factory) as db:
        locked = db.scalar(select(Event).where(Event.id == event.id).with_for_update())
        assert locked is not None
        return settle_event(db_session=db, city=city, locked=locked, draft=draft, policy=duplicates,
                            seen=seen).incident_id


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


@dataclass(frozen=True)
class Draft:
    """What understanding decided about an event before anything is written: its
    classification, sighting, snapshot check, write-up and triage reasons."""

    result: Classification
    sighting: Sighting
    verification: Verification
    writeup: Writeup
    triage_reasons: list[str]


def draft_incident(
    *, city: CityConfig, chat: BaseChatModel | None, event: Event, result: Classification,
    sighting: Sighting, snapshot: Snapshot | None, vision: bool,
) -> Draft:
    """Verify the snapshot and write the incident up (LLM calls, outside any transaction)."""
    verification = verify_snapshot(
        chat, vision=vision, snapshot=snapshot, report=event.text,
        category_name=_category_name(city, result.category))
    triage_reasons = _triage_reasons(result, city)
    if verification.status == "rejected":
        triage_reasons.append(explain.SNAPSHOT_REJECTED(category=result.category))
    facts = _facts(event, city, result.category)
    try:
        writeup = write_incident(chat, facts=facts) if chat is not None else fallback_writeup(facts)
    except LLMUnavailable as exc:
        writeup = fallback_writeup(facts)
        triage_reasons.append(explain.WRITER_FAILED(error=exc))
    if chat is None:
        triage_reasons.append(explain.LLM_NOT_CONFIGURED())
    triage_reasons += flag_reasons(result.flags)
    return Draft(result=result, sighting=sighting, verification=verification, writeup=writeup,
                 triage_reasons=triage_reasons)


def understand_offline(
    *, city: CityConfig, event: Event, embedder: Embedder | None, vector: Vector | None,
    learned: LearnedPredict | None,
) -> Draft:
    """The whole understanding of an event without an LLM (classify, verify, write up), no
    database (the event's image loaded): the caller writes it, and only the rules judge
    duplicates."""
    result, sighting = _classify(city=city, chat=None, event=event, embedder=embedder, vector=vector,
                                 learned=learned)
    return draft_incident(city=city, chat=None, event=event, result=result, sighting=sighting,
                          snapshot=_snapshot(event), vision=False)


@dataclass(frozen=True)
class Settled:
    incident_id: uuid.UUID
    created: bool  # False: joined an open incident, or another delivery had done it already


def settle_event(
    *, db_session: Session, city: CityConfig, locked: Event, draft: Draft,
    policy: DuplicatePolicy | None, seen: frozenset[str] | set[str] = frozenset(),
) -> Settled:
    """In the caller's transaction, on the row-locked event: its incident already (another
    delivery won), a late duplicate it joins (the rules judge, under the creation lock), or a
    new incident. The event is processed when this returns."""
    if locked.incident_id is not None:  # another delivery of this task won the race
        return Settled(locked.incident_id, created=False)
    if policy is not None:
        late = _late_duplicate(db_session, locked, draft.sighting, policy, set(seen), draft.result.flags)
        if late is not None:
            return Settled(late, created=False)
    incident = build_incident(city=city, locked=locked, draft=draft)
    db_session.add(incident)
    db_session.flush()
    mark_processed(locked, incident.id, draft.result.flags)
    return Settled(incident.id, created=True)


def build_incident(*, city: CityConfig, locked: Event, draft: Draft) -> Incident:
    """The new incident of the event (not added to any session)."""
    result = draft.result
    category = city.category(result.category)
    return Incident(
        id=uuid.uuid4(), origin_event_id=locked.id, category=result.category,
        severity=category.priority if category else "low", title=draft.writeup.title,
        description=draft.writeup.description, location_phrase=draft.writeup.location_phrase,
        recommended_action=draft.writeup.recommended_action,
        lat=locked.lat, lon=locked.lon, district=locked.district,
        classification={**result.model_dump(mode="json"),
                        "verification": draft.verification.model_dump(mode="json")},
        writeup=draft.writeup.model_dump(mode="json"),
        needs_triage=bool(draft.triage_reasons), triage_reasons=list(draft.triage_reasons),
        embedding=draft.sighting.embedding,
    )


def mark_processed(locked: Event, incident_id: uuid.UUID, flags: list[str]) -> None:
    """The (row-locked) event belongs to its new incident, which must be flushed already."""
    locked.incident_id = incident_id
    locked.status = "processed"
    locked.flags = sorted(set(locked.flags) | set(flags))
    locked.processed_at = datetime.now(UTC)


def duplicate_verdict(
    *, db_session: Session, sighting: Sighting, policy: DuplicatePolicy, local: list[Candidate],
    stored: list[Candidate] | None = None,
) -> DuplicateVerdict:
    """The rules judge (no LLM inside a transaction) over the open incidents near the sighting:
    ``local`` ones (created in this transaction and not flushed, newest first) and those in
    the database (``stored``, when the caller looked them up already under the lock). The
    caller holds the incident-creation lock."""
    known = {c.incident_id for c in local}
    if stored is None:
        stored = find_candidates(db_session=db_session, sighting=sighting, policy=policy)
    stored = [c for c in stored if c.incident_id not in known]
    return judge(sighting, [*local, *stored][:MAX_CANDIDATES], chat=None, policy=policy)


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

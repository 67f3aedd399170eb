"""Understand events in batches: one embedding call for every event waiting, not one per event.

The profile of the LLM-off pipeline put 84 % of a worker's time in the text embedder, called
once per event; a batch of 16 short texts costs little more than one. So the task for one
event claims up to ``size`` events still waiting (its own first, then the oldest), embeds
their texts together, and understands each with ``flows.understand_event`` as before.

A claim is a session-level PostgreSQL advisory lock per event, held on one connection for
the length of the batch and taken with ``pg_try_advisory_lock`` (never waited for). It
needs no table and no expiry: a worker that dies loses its connection and with it its
claims, at once. The message of an event another worker has claimed is done: that worker
understands the event and sends its next step. With an LLM each event is still understood
by the idempotent per-event flow, and without one the batch's transaction re-reads every
event under its row lock, so a claim that is lost or raced changes nothing but the work.

Without an LLM (``chat`` None) and with a ``settle`` step from the caller, a batch is also
written together: every event is understood first (classify, verify, write up: no database,
no LLM), then ONE transaction locks the events, takes the incident-creation lock once,
decides each event with reads only (the rules duplicate judge over the stored incidents and
the ones this batch creates, still in memory), writes the new incidents and the events in
multi-row statements, hands the new incidents to ``settle.fresh`` (routing, tickets, inbox
deliveries: ``dispatch.tasks.RouteInline``), writes the rare merges one by one, and commits:
one commit and a handful of statements for the batch instead of three commits and some
twenty statements per event. What ``settle`` hands back runs after the commit (queueing the
outside channels). When that transaction fails for any reason it is rolled back whole and
the batch goes through the per-event path above, so one bad event cannot hold the others
back and a failure is counted against the event that caused it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from langchain_core.language_models import BaseChatModel
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session, sessionmaker, undefer

from agents.classifier import LearnedPredict
from agents.duplicates import Candidate, DuplicatePolicy, DuplicateVerdict
from agents.embeddings import Embedder, Vector
from dispatch.city.config import CityConfig
from dispatch.core.db import transaction
from dispatch.incidents import flows
from dispatch.incidents.merging import (
    candidate_of,
    find_candidates_many,
    lock_incident_creation,
    merge_event,
    within_reach,
)
from dispatch.incidents.models import Incident
from dispatch.intake.models import Event

log = logging.getLogger(__name__)

CLAIM_NAMESPACE = 0x434C_4E44  # the first key of every claim lock: "CLND"
# Waiting events ahead of the claim in received order, most already claimed by other workers
SCAN_FACTOR = 4
CLAIM_SQL = text("""
SELECT id FROM (
    (SELECT id, 0 AS rank, received_at FROM events
     WHERE id = :own AND status = 'received' AND incident_id IS NULL)
    UNION ALL
    (SELECT id, 1 AS rank, received_at FROM events
     WHERE status = 'received' AND incident_id IS NULL AND id <> :own
     ORDER BY received_at LIMIT :scan)
    ORDER BY rank, received_at
) waiting  -- sorted first: the lock is tried row by row in this order, up to :size taken
WHERE pg_try_advisory_lock(:ns, hashtext(id::text))
LIMIT :size
""")


class Settle(Protocol):
    """The rest of the loop for the incidents a batch settled, in the batch's transaction.
    Each call returns what to do once the transaction has committed (queue messages), or None."""

    def fresh(self, db_session: Session, incidents: list[Incident]) -> Callable[[], None] | None:
        """Incidents created (and flushed) in this transaction: none has a ticket yet."""

    def __call__(self, db_session: Session, incident_id: uuid.UUID) -> Callable[[], None] | None:
        """Any incident an event joined or already had (idempotent)."""


class _TargetClosed(Exception):
    """A duplicate's incident was closed between the judge and the merge."""


@contextmanager
def claimed(engine: Engine, event_id: uuid.UUID, size: int) -> Iterator[list[uuid.UUID]]:
    """The events this worker understands now: ``event_id`` first when no other worker has it,
    then the oldest waiting events; at most ``size``. Empty when the
    event is processed or claimed elsewhere. The claims end with the block."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            ids = [row[0] for row in conn.execute(
                CLAIM_SQL, {"own": event_id, "scan": size * SCAN_FACTOR, "size": size, "ns": CLAIM_NAMESPACE})]
            yield ids
        finally:
            _release(conn)


def _release(conn: Connection) -> None:
    try:
        conn.execute(text("SELECT pg_advisory_unlock_all()"))
    except Exception:  # the connection is broken: its session and locks are gone with it
        conn.invalidate()
        raise


def _texts(factory: sessionmaker[Session], ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    with transaction(factory) as db:
        events = db.scalars(select(Event).where(Event.id.in_(ids), Event.incident_id.is_(None)))
        return {event.id: event.text for event in events}


def _vectors(embedder: Embedder | None, texts: dict[uuid.UUID, str]) -> dict[uuid.UUID, Vector]:
    """One embedding call for the batch; none (each event embeds alone) when it fails."""
    usable = {k: v for k, v in texts.items() if v.strip()}
    if embedder is None or not usable:
        return {}
    try:
        matrix = embedder.embed(list(usable.values()))
    except (OSError, RuntimeError, ValueError, ImportError) as exc:
        log.warning("batch embedding failed, events embed one by one: %s", exc)
        return {}
    return dict(zip(usable, matrix, strict=True))


def understand_events(
    *, engine: Engine, factory: sessionmaker[Session], city: CityConfig, chat: BaseChatModel | None,
    event_id: uuid.UUID, size: int, on_incident: Callable[[uuid.UUID], None],
    embedder: Embedder | None = None, duplicates: DuplicatePolicy | None = None, vision: bool = False,
    learned: LearnedPredict | None = None, settle: Settle | None = None,
) -> list[uuid.UUID]:
    """Understand ``event_id`` and the waiting events claimed with it; ``on_incident`` is
    called with each incident as soon as its event is committed (the next step is sent
    then, not at the end of the batch). Returns the events understood.

    With no ``chat`` and a ``settle``, the batch is written in one transaction (see the
    module's docstring) and ``on_incident`` is called only if that transaction fails."""
    with claimed(engine, event_id, size) as ids:
        if not ids:
            return []
        if chat is None and settle is not None:
            together = _understand_together(
                factory=factory, city=city, ids=ids, own=event_id, embedder=embedder,
                duplicates=duplicates, learned=learned, settle=settle)
            if together is not None:
                return together
        texts = _texts(factory, ids)
        return _one_by_one(factory=factory, city=city, chat=chat, ids=ids, own=event_id, texts=texts,
                           vectors=_vectors(embedder, texts), on_incident=on_incident, embedder=embedder,
                           duplicates=duplicates, vision=vision, learned=learned)


def _one_by_one(
    *, factory: sessionmaker[Session], city: CityConfig, chat: BaseChatModel | None,
    ids: list[uuid.UUID], own: uuid.UUID, texts: dict[uuid.UUID, str], vectors: dict[uuid.UUID, Vector],
    on_incident: Callable[[uuid.UUID], None], embedder: Embedder | None,
    duplicates: DuplicatePolicy | None, vision: bool, learned: LearnedPredict | None,
) -> list[uuid.UUID]:
    """Each claimed event through the per-event flow, in its own transactions."""
    event_id = own
    done: list[uuid.UUID] = []
    for claimed_id in ids:
        if claimed_id not in texts:
            continue  # processed between the claim and the read
        try:
            incident_id = flows.understand_event(
                factory=factory, city=city, chat=chat, event_id=claimed_id, embedder=embedder,
                duplicates=duplicates, vision=vision, vector=vectors.get(claimed_id), learned=learned)
        except Exception:
            if claimed_id == event_id:
                raise  # this task's own event: retried, counted, quarantined as its task's
            log.exception("event %s, claimed with %s, failed; the sweep sends it again", claimed_id, event_id)
            continue
        if incident_id is not None:
            on_incident(incident_id)
            done.append(claimed_id)
    return done


def _understand_together(
    *, factory: sessionmaker[Session], city: CityConfig, ids: list[uuid.UUID], own: uuid.UUID,
    embedder: Embedder | None, duplicates: DuplicatePolicy | None, learned: LearnedPredict | None,
    settle: Settle,
) -> list[uuid.UUID] | None:
    """The batch without an LLM: understood in memory, written in one transaction. None
    when that transaction failed and was rolled back (the caller goes one by one)."""
    with transaction(factory) as db:
        events = {e.id: e for e in db.scalars(  # the images too: a snapshot is part of the draft
            select(Event).options(undefer(Event.image)).where(Event.id.in_(ids), Event.incident_id.is_(None)))}
        db.expunge_all()
    if not events:
        return []
    vectors = _vectors(embedder, {k: e.text for k, e in events.items()})
    try:
        drafts = {claimed_id: flows.understand_offline(city=city, event=events[claimed_id], embedder=embedder,
                                                       vector=vectors.get(claimed_id), learned=learned)
                  for claimed_id in ids if claimed_id in events}
        with transaction(factory) as db:
            after = _write_together(db, city=city, drafts=drafts, duplicates=duplicates, settle=settle)
    except Exception:
        log.exception("the batch of %d events with %s failed together; each goes alone", len(events), own)
        return None
    for then in after:
        then()
    return list(drafts)


def _write_together(
    db: Session, *, city: CityConfig, drafts: dict[uuid.UUID, flows.Draft],
    duplicates: DuplicatePolicy | None, settle: Settle,
) -> list[Callable[[], None]]:
    """Every decision first (only reads: the duplicate judge's candidates), then the writes
    in a few multi-row statements: the new incidents, the events, and what ``settle`` adds;
    the merges (rare) last, one by one, when every new ticket exists to note them on."""
    # the event rows first, then the creation lock: the order the per-event path takes them
    locked = {e.id: e for e in db.scalars(
        select(Event).where(Event.id.in_(list(drafts))).order_by(Event.id).with_for_update())}
    stored: dict[uuid.UUID, list[Candidate]] = {}
    if duplicates is not None:
        lock_incident_creation(db)
        waiting = [claimed_id for claimed_id in drafts if locked[claimed_id].incident_id is None]
        found = find_candidates_many(db_session=db, sightings=[drafts[i].sighting for i in waiting],
                                     policy=duplicates)
        stored = dict(zip(waiting, found, strict=True))
    created: list[tuple[Incident, Event, flows.Draft]] = []
    merges: list[tuple[Event, uuid.UUID, DuplicateVerdict, list[str]]] = []
    known: list[uuid.UUID] = []  # incidents the events had already (another delivery won)
    with db.no_autoflush:  # the new incidents stay in memory until every decision is made
        for claimed_id, draft in drafts.items():
            event = locked[claimed_id]
            if event.incident_id is not None:
                known.append(event.incident_id)
                continue
            if duplicates is not None:
                local = [candidate_of(incident, origin) for incident, origin, _ in reversed(created)
                         if within_reach(sighting=draft.sighting, policy=duplicates, incident=incident)]
                verdict = flows.duplicate_verdict(db_session=db, sighting=draft.sighting, policy=duplicates,
                                                  local=local, stored=stored[claimed_id])
                if verdict.incident_id is not None:
                    merges.append((event, uuid.UUID(verdict.incident_id), verdict, draft.result.flags))
                    continue
            created.append((flows.build_incident(city=city, locked=event, draft=draft), event, draft))
    db.add_all([incident for incident, _, _ in created])
    db.flush()  # the incidents before the events that point at them
    for incident, event, draft in created:
        flows.mark_processed(event, incident.id, draft.result.flags)
    after = [settle.fresh(db, [incident for incident, _, _ in created])]
    for event, incident_id, verdict, flags in merges:
        if not merge_event(db_session=db, event=event, incident_id=incident_id, verdict=verdict, flags=flags):
            raise _TargetClosed(f"incident {incident_id} closed before event {event.id} could join it")
        known.append(incident_id)
    after += [settle(db, incident_id) for incident_id in dict.fromkeys(known)]
    return [then for then in after if then is not None]

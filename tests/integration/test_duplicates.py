"""Reports of the same problem become one incident: real PostgreSQL, the real embedder.

The flows run in-process without an LLM, so only the clear cases decide (distance,
time window, category and text similarity), as they do when the LLM is down.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from agents.duplicates import DuplicatePolicy, Sighting
from agents.embeddings import SentenceTransformerEmbedder, embeddings_available
from dispatch.city.config import CityConfig, load_city
from dispatch.core.db import make_session_factory, transaction
from dispatch.incidents import merging
from dispatch.incidents.flows import understand_event
from dispatch.incidents.models import Incident
from dispatch.intake.models import Event
from dispatch.intake.schemas import EventCreate
from dispatch.intake.service import create_event
from dispatch.tickets.flows import route_incident
from dispatch.tickets.models import Ticket, TicketHistory
from tests.helpers.config import SAMPLE_CITY

pytestmark = pytest.mark.skipif(not embeddings_available(), reason="needs the 'ml' extra")
TREE = (41.62500, -93.65500)
METRE_LAT = 1 / 111_195


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture()
def factory(clean_state: None, migrated_db: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(migrated_db)
    yield make_session_factory(engine)
    engine.dispose()


def post(factory: sessionmaker[Session], city: CityConfig, data: dict[str, object]) -> uuid.UUID:
    with transaction(factory) as db:
        event, _ = create_event(db_session=db, city=city, data=EventCreate.model_validate(data),
                                max_image_bytes=1_000_000)
        return event.id


def near(north_m: float, east_m: float = 0.0) -> dict[str, float]:
    return {"lat": TREE[0] + north_m * METRE_LAT, "lon": TREE[1] + east_m * METRE_LAT / 0.7475}


def test_camera_and_three_calls_about_one_tree_make_one_incident_and_ticket(
    factory: sessionmaker[Session], embedder: SentenceTransformerEmbedder,
) -> None:
    city = load_city(SAMPLE_CITY)

    def handle(data: dict[str, object]) -> uuid.UUID:
        event_id = post(factory, city, data)
        incident_id = understand_event(factory=factory, city=city, chat=None, event_id=event_id,
                                       embedder=embedder, duplicates=DuplicatePolicy())
        assert incident_id is not None
        route_incident(factory=factory, city=city, chat=None, incident_id=incident_id)
        return incident_id

    camera = handle({"source": "camera", "category_hint": "fallen_tree", **near(0),
                     "description": "Camera 14: fallen tree lying across the road"})
    calls = [
        handle({"source": "hotline", **near(25, 10),
                "description": "A big tree fell across Elm Street and blocks both lanes"}),
        handle({"source": "hotline", **near(-40),
                "description": "Huge oak came down on Elm, cars can't get past it"}),
        handle({"source": "hotline", **near(90, -30),
                "description": "There's a tree lying on the road near Elm and 2nd, "
                               "branches everywhere"}),
    ]
    pothole = handle({"source": "hotline", **near(2000),
                      "description": "Deep pothole in the right lane, my tyre burst"})

    assert calls == [camera, camera, camera]
    assert pothole != camera
    with transaction(factory) as db:
        assert db.scalar(select(func.count()).select_from(Incident)) == 2
        events = db.scalars(select(Event).where(Event.incident_id == camera)).all()
        assert sorted(e.source for e in events) == ["camera", "hotline", "hotline", "hotline"]
        assert all(e.status == "processed" for e in events)
        tickets = db.scalars(select(Ticket)).all()
        assert sorted(t.incident_id for t in tickets) == sorted([camera, pothole])
        tree_ticket = next(t for t in tickets if t.incident_id == camera)
        merged = db.scalars(select(TicketHistory).where(
            TicketHistory.ticket_id == tree_ticket.id,
            TicketHistory.action == "merged_event")).all()
        assert len(merged) == 3
        assert {entry.data["method"] for entry in merged} == {"rules"}
        incident = db.get(Incident, camera)
        assert incident is not None and incident.embedding is not None
        assert len(incident.embedding) == 384


def test_a_closed_incident_is_not_reopened_by_a_new_report(
    factory: sessionmaker[Session], embedder: SentenceTransformerEmbedder,
) -> None:
    city = load_city(SAMPLE_CITY)
    first = post(factory, city, {"source": "camera", "category_hint": "fallen_tree", **near(0),
                                 "description": "Camera 14: fallen tree lying across the road"})
    incident_id = understand_event(factory=factory, city=city, chat=None, event_id=first,
                                   embedder=embedder, duplicates=DuplicatePolicy())
    assert incident_id is not None
    route_incident(factory=factory, city=city, chat=None, incident_id=incident_id)
    with transaction(factory) as db:
        ticket = db.scalar(select(Ticket).where(Ticket.incident_id == incident_id))
        assert ticket is not None
        ticket.status = "closed"

    again = post(factory, city, {"source": "hotline", **near(5),
                                 "description": "A tree fell across the road again"})
    second = understand_event(factory=factory, city=city, chat=None, event_id=again,
                              embedder=embedder, duplicates=DuplicatePolicy())

    assert second is not None and second != incident_id


def test_one_statement_finds_the_same_candidates_as_one_lookup_per_event(
    factory: sessionmaker[Session], embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch,
) -> None:
    city = load_city(SAMPLE_CITY)
    places = [near(0), near(1500), near(3000), near(4500, 200)]
    for north, place in enumerate(places):
        for extra in range(3):  # three distinct incidents per place (no duplicates policy)
            event_id = post(factory, city, {"source": "hotline", "lat": place["lat"] + extra * 1e-5,
                                            "lon": place["lon"],
                                            "description": f"Report {north}-{extra}: a fallen tree"})
            understand_event(factory=factory, city=city, chat=None, event_id=event_id, embedder=embedder)
    policy = DuplicatePolicy()
    at = datetime.now(UTC)
    sightings = [Sighting(text="tree", category="fallen_tree", at=at, **near(10)),
                 Sighting(text="tree", category="fallen_tree", at=at, **near(1510)),
                 Sighting(text="tree", category="fallen_tree", at=at),  # no place: no candidates
                 Sighting(text="tree", category="fallen_tree", at=at, **near(9000)),
                 Sighting(text="tree", category="fallen_tree", at=at, **near(4490, 200))]

    def ids(found: list[list[merging.Candidate]]) -> list[list[str]]:
        return [[c.incident_id for c in one] for one in found]

    with transaction(factory) as db:
        one_by_one = [merging.find_candidates(db_session=db, sighting=s, policy=policy) for s in sightings]
        together = merging.find_candidates_many(db_session=db, sightings=sightings, policy=policy)
        assert ids(together) == ids(one_by_one)
        assert [len(found) for found in together] == [3, 3, 0, 0, 3]
        monkeypatch.setattr(merging, "MAX_CANDIDATES", 2)  # the statement's cap is reached: one by one
        capped = merging.find_candidates_many(db_session=db, sightings=sightings, policy=policy)
        assert ids(capped) == ids([merging.find_candidates(db_session=db, sighting=s, policy=policy)
                                   for s in sightings])
        assert [len(found) for found in capped] == [2, 2, 0, 0, 2]

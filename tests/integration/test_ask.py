"""Ask the city against real PostgreSQL: questions in English and Chinese run as filters,
"near" is a radius around the city's places, text is found by words and by meaning, and —
through ask, show similar and the page alike — staff never see another agency's tickets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from dispatch.core.db import transaction
from dispatch.core.errors import InvalidField
from dispatch.core.runtime import get_runtime
from dispatch.incidents import flows as incident_flows
from dispatch.intake import camera as camera_intake
from dispatch.tickets import flows as ticket_flows
from dispatch.tickets.inbox import sla_state
from dispatch.tickets.models import Ticket
from tests.helpers.tickets import NOON

LINCOLN_ELEMENTARY = (41.620, -93.650)  # a school of the sample city's "schools" layer


def make(client: TestClient, description: str, category: str, lat: float, lon: float) -> int:
    """A routed ticket whose incident carries its text embedding, as the workers make one."""
    response = client.post("/api/events", json={
        "source": "hotline", "description": description, "category_hint": category,
        "lat": lat, "lon": lon, "occurred_at": NOON})
    assert response.status_code == 202, response.text
    rt = get_runtime()
    incident_id = incident_flows.understand_event(
        factory=rt.factory, city=rt.city, chat=None, embedder=rt.embedder,
        event_id=uuid.UUID(response.json()["id"]))
    assert incident_id is not None
    routed = ticket_flows.route_incident(factory=rt.factory, city=rt.city, chat=None,
                                         incident_id=incident_id)
    assert routed is not None
    return routed[0]


@pytest.fixture()
def city_tickets(clients: dict[str, TestClient]) -> dict[str, int]:
    anon = clients["anon"]
    return {
        # landscaping: one beside Lincoln Elementary, one far from every school
        "tree_by_school": make(anon, "A big branch fell across the sidewalk by the school gate",
                               "fallen_tree", 41.6203, -93.6502),
        "oak_far": make(anon, "An old oak tree fell onto a parked car on Quarry Road",
                        "fallen_tree", 41.6450, -93.6900),
        # sanitation, also beside the school
        "garbage_by_school": make(anon, "Garbage bags dumped on the sidewalk by the school",
                                  "exposed_garbage", 41.6198, -93.6497),
        # transportation, in East Heights
        "pothole": make(anon, "A deep pothole in the bike lane of Summit Avenue", "pothole",
                        41.6300, -93.5500),
    }


def ids(answer: dict[str, Any]) -> set[int]:
    return {row["id"] for row in answer["results"]}


def ask(client: TestClient, question: str) -> dict[str, Any]:
    response = client.get("/api/ask", params={"q": question})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_answer_has_the_documented_shape(clients: dict[str, TestClient],
                                             city_tickets: dict[str, int]) -> None:
    answer = ask(clients["dispatcher"], "fallen trees near schools this week")
    assert set(answer) >= {"q", "filters", "unparsed", "total", "results", "explanation"}
    assert set(answer["filters"]) == {"categories", "districts", "agencies", "statuses", "since",
                                      "until", "near", "overdue", "text"}
    assert answer["filters"]["near"] == {"layer": "schools", "radius_m": 300}
    assert answer["filters"]["categories"] == ["fallen_tree"]
    assert set(answer["results"][0]) == {"id", "reference", "title", "category", "status", "lat",
                                         "lon", "created_at", "score"}
    assert ids(answer) == {city_tickets["tree_by_school"]}  # the oak is 3 km from any school
    assert answer["total"] == 1
    assert "Schools" in answer["explanation"]


def test_near_is_a_radius_the_question_can_change(clients: dict[str, TestClient],
                                                   city_tickets: dict[str, int]) -> None:
    dispatcher = clients["dispatcher"]
    assert ids(ask(dispatcher, "anything near schools")) == {
        city_tickets["tree_by_school"], city_tickets["garbage_by_school"]}
    # Quarry Road's oak is 4.3 km from Lincoln Elementary, the nearest school
    assert city_tickets["oak_far"] in ids(ask(dispatcher, "fallen trees within 5 km of a school"))
    assert city_tickets["oak_far"] not in ids(ask(dispatcher, "fallen trees within 4 km of a school"))


def test_chinese_questions_run_the_same_filters(clients: dict[str, TestClient],
                                                city_tickets: dict[str, int]) -> None:
    dispatcher = clients["dispatcher"]
    english = ask(dispatcher, "fallen trees near schools this week")
    chinese = ask(dispatcher, "本周学校附近的倒伏树木")
    assert chinese["filters"] == english["filters"]
    assert ids(chinese) == ids(english)
    assert ids(ask(dispatcher, "东区的坑洼")) == {city_tickets["pothole"]}


def test_time_words_and_statuses(clients: dict[str, TestClient],
                                 city_tickets: dict[str, int]) -> None:
    dispatcher = clients["dispatcher"]
    assert len(ask(dispatcher, "everything reported today")["results"]) == 4
    assert ask(dispatcher, "tickets older than 3 days")["total"] == 0
    rt = get_runtime()
    with rt.factory() as db, db.begin():
        db.execute(update(Ticket).where(Ticket.id == city_tickets["pothole"]).values(
            created_at=datetime.now(UTC) - timedelta(days=5), status="resolved"))
    assert ids(ask(dispatcher, "tickets older than 3 days")) == {city_tickets["pothole"]}
    assert ids(ask(dispatcher, "resolved potholes")) == {city_tickets["pothole"]}
    assert ask(dispatcher, "open potholes")["total"] == 0


def test_overdue_is_the_inbox_sla_state(clients: dict[str, TestClient],
                                        city_tickets: dict[str, int]) -> None:
    rt = get_runtime()
    late = city_tickets["garbage_by_school"]
    with rt.factory() as db, db.begin():
        db.execute(update(Ticket).where(Ticket.id == late).values(
            sla_due_at=datetime.now(UTC) - timedelta(hours=1)))
    dispatcher = clients["dispatcher"]
    overdue = ask(dispatcher, "overdue tickets")
    assert ids(overdue) == {late}
    with rt.factory() as db:
        states = {t.id: sla_state(t) for t in db.query(Ticket)}
    assert {i for i, state in states.items() if state == "breached"} == ids(overdue)
    assert ids(ask(dispatcher, "未逾期的工单")) == set(city_tickets.values()) - {late}


def test_text_is_found_by_words_and_by_meaning(clients: dict[str, TestClient],
                                               city_tickets: dict[str, int]) -> None:
    dispatcher = clients["dispatcher"]
    by_word = ask(dispatcher, "fallen trees on Quarry Road")
    assert by_word["filters"]["text"] == "quarry road"
    assert [row["id"] for row in by_word["results"]][:1] == [city_tickets["oak_far"]]
    assert by_word["results"][0]["score"] is not None
    # no tree report says "vehicle" or "damaged"; the oak onto a parked car means it
    by_meaning = ask(dispatcher, "fallen trees where a vehicle was damaged")
    assert by_meaning["filters"]["text"] == "vehicle damaged"
    assert [row["id"] for row in by_meaning["results"]] == [city_tickets["oak_far"]]


def test_staff_never_see_another_agency_through_ask(clients: dict[str, TestClient],
                                                    city_tickets: dict[str, int]) -> None:
    staff = clients["staff"]  # landscaping
    mine = {city_tickets["tree_by_school"], city_tickets["oak_far"]}
    for question in ("anything near schools", "garbage near schools", "everything today",
                     "sanitation tickets", "东区的坑洼", "reports mentioning garbage bags",
                     "overdue tickets", "本周的所有工单"):
        answer = ask(staff, question)
        assert ids(answer) <= mine, question
        assert sum(c["count"] for c in answer["by_category"]) == answer["total"]
    assert ask(clients["dispatcher"], "garbage near schools")["total"] == 1


def test_staff_never_see_another_agency_through_similar(clients: dict[str, TestClient],
                                                        city_tickets: dict[str, int]) -> None:
    staff, dispatcher = clients["staff"], clients["dispatcher"]
    tree = city_tickets["tree_by_school"]
    everyone = dispatcher.get(f"/api/tickets/{tree}/similar").json()
    assert city_tickets["garbage_by_school"] in ids(everyone)  # the dispatcher sees all three
    assert tree not in ids(everyone)
    scores = [row["score"] for row in everyone["results"]]
    assert scores == sorted(scores, reverse=True)
    own = staff.get(f"/api/tickets/{tree}/similar").json()
    assert ids(own) == {city_tickets["oak_far"]}
    refused = staff.get(f"/api/tickets/{city_tickets['garbage_by_school']}/similar")
    assert refused.status_code == 404
    panel = staff.get(f"/ask/similar/{city_tickets['garbage_by_school']}")
    assert panel.status_code == 404 and "Garbage" not in panel.text


def test_strangers_are_refused_and_blank_questions_named(clients: dict[str, TestClient]) -> None:
    assert clients["anon"].get("/api/ask", params={"q": "potholes"}).status_code == 401
    assert clients["anon"].get("/api/tickets/1/similar").status_code == 401
    blank = clients["dispatcher"].get("/api/ask", params={"q": "   "})
    assert blank.status_code == 422 and blank.json()["detail"][0]["field"] == "q"
    long = clients["dispatcher"].get("/api/ask", params={"q": "x" * 301})
    assert long.status_code == 422 and long.json()["detail"][0]["field"] == "q"


def test_the_page_shows_chips_that_change_and_remove_filters(clients: dict[str, TestClient],
                                                             city_tickets: dict[str, int]) -> None:
    staff = clients["staff"]
    html = staff.get("/ask", params={"q": "fallen trees near schools this week"}).text
    assert 'data-chip="categories"' in html and 'data-chip="near"' in html
    assert f'data-ticket="{city_tickets["tree_by_school"]}"' in html
    assert f'data-ticket="{city_tickets["oak_far"]}"' not in html
    # the chips sent back without "near": both trees, never the garbage
    dropped = staff.get("/ask", params={
        "q": "fallen trees near schools this week", "edited": "1", "categories": "fallen_tree",
        "near_layer": "schools", "radius_m": "300", "drop": "near"}).text
    assert 'data-chip="near"' not in dropped
    assert f'data-ticket="{city_tickets["oak_far"]}"' in dropped
    assert f'data-ticket="{city_tickets["garbage_by_school"]}"' not in dropped
    # a wider radius, edited on the chip
    wider = staff.get("/ask", params={"q": "x", "edited": "1", "near_layer": "schools",
                                      "radius_m": "5000"}).text
    assert f'data-ticket="{city_tickets["oak_far"]}"' in wider
    bad = staff.get("/ask", params={"q": "x", "edited": "1", "categories": "volcano"})
    assert bad.status_code == 422 and "volcano" in bad.text


ODD_QUESTIONS = [
    "older than 99999999999 days", "in the last 999999999 years", "older than 3000 years",
    "since 0001-01-01", "before 9999-12-31", "within 99999999999999999999 km of schools",
    "within 0 m of a park", "最近百百百百天", "超过九百九十九年的工单", "%_\\ 100% _", "学校" * 150,
    "'; DROP TABLE tickets; --", "near near near", "1.2.3.4", "ｆａｌｌｅｎ ｔｒｅｅｓ",
]


@pytest.mark.parametrize("question", ODD_QUESTIONS)
def test_odd_questions_get_an_answer_not_an_error(clients: dict[str, TestClient],
                                                 question: str) -> None:
    response = clients["dispatcher"].get("/api/ask", params={"q": question})
    assert response.status_code == 200, response.text
    assert response.json()["explanation"]


def test_health_names_the_vector_backend(clients: dict[str, TestClient]) -> None:
    search = clients["anon"].get("/health").json()["checks"]["search"]
    assert search["ok"] is True
    assert search["vector_backend"] in ("pgvector", "numpy")


@dataclass
class FakeTrackEvent:
    """A fake of perception's CameraEvent: one track's sighting with its CLIP crop embedding."""

    camera_id: str
    track_id: int
    category: str
    embedding: list[float] | None
    kind: str = "new"
    zone: str | None = None
    box: tuple[float, ...] = (10.0, 10.0, 60.0, 80.0)
    scores: dict[str, float] = field(default_factory=lambda: {"clip": 0.8})
    snapshot_jpeg: bytes | None = None
    frame_size: tuple[int, int] | None = None


NIGHT = datetime.fromisoformat("2024-07-15T23:00:00-05:00")  # Old Town's night tree rule applies


def camera_ticket(event: FakeTrackEvent, seen_at: datetime = NIGHT) -> int:
    """A routed ticket from one camera sighting, seen at NIGHT unless told (routing reads the
    sighting's time, not the arrival's)."""
    rt = get_runtime()
    with transaction(rt.factory) as db:
        stored = camera_intake.submit(db_session=db, city=rt.city, event=event, run_id="run-1",
                                      max_image_bytes=1_000_000, seen_at=seen_at)
    incident_id = incident_flows.understand_event(factory=rt.factory, city=rt.city, chat=None,
                                                  embedder=rt.embedder, event_id=uuid.UUID(stored.event_id))
    assert incident_id is not None
    routed = ticket_flows.route_incident(factory=rt.factory, city=rt.city, chat=None, incident_id=incident_id)
    assert routed is not None
    return routed[0]


def test_a_camera_sighting_is_routed_by_when_it_was_seen_not_when_it_arrived(
        clients: dict[str, TestClient]) -> None:
    """Old Town's fallen trees go to public works from 22:00 to 06:00, to landscaping by day."""
    night = camera_ticket(FakeTrackEvent("cam-old-town-square", 1, "fallen_tree", None))
    day = camera_ticket(FakeTrackEvent("cam-old-town-square", 2, "fallen_tree", None),
                        seen_at=datetime.fromisoformat(NOON))
    agencies = {ticket: clients["dispatcher"].get(f"/api/tickets/{ticket}").json()["agency"] for ticket in (night, day)}
    assert agencies == {night: "public_works", day: "landscaping"}


def test_show_similar_also_finds_camera_tickets_that_look_alike(clients: dict[str, TestClient]) -> None:
    rng = np.random.default_rng(7)
    crop = rng.normal(size=64)

    def like(noise: float) -> list[float]:
        vector = crop + rng.normal(scale=noise, size=64)
        return [float(v) for v in vector / np.linalg.norm(vector)]

    made = {name: camera_ticket(FakeTrackEvent(camera, track, category, embedding)) for name, camera, track, category,
            embedding in [("tree", "cam-main-st-bridge", 1, "fallen_tree", like(0.0)),
                          ("same_tree", "cam-main-st-bridge", 2, "fallen_tree", like(0.1)),
                          ("other_tree", "cam-old-town-square", 3, "fallen_tree", like(10.0)),
                          ("garbage", "cam-main-st-bridge", 4, "exposed_garbage", like(0.3)),
                          ("no_clip", "cam-main-st-bridge", 5, "fallen_tree", None)]}
    hotline = make(clients["anon"], "A branch fell across the sidewalk", "fallen_tree", 41.6203, -93.6502)

    everyone = clients["dispatcher"].get(f"/api/tickets/{made['tree']}/similar").json()
    assert [row["id"] for row in everyone["by_picture"]] == [made["same_tree"], made["garbage"], made["other_tree"]]
    assert "by what the camera saw" in everyone["explanation"]
    # landscaping staff: the old town's trees at night go to public works, the garbage to sanitation
    own = clients["staff"].get(f"/api/tickets/{made['tree']}/similar").json()
    assert [row["id"] for row in own["by_picture"]] == [made["same_tree"]]
    for without in (made["no_clip"], hotline):
        assert clients["dispatcher"].get(f"/api/tickets/{without}/similar").json()["by_picture"] == []
    panel = clients["dispatcher"].get(f"/ask/similar/{made['tree']}")
    assert panel.status_code == 200 and f'data-similar-picture="{made["same_tree"]}"' in panel.text

    with pytest.raises(InvalidField, match="embedding"), transaction(get_runtime().factory) as db:
        camera_intake.submit(db_session=db, city=get_runtime().city, run_id="run-1", max_image_bytes=1_000_000,
                             event=FakeTrackEvent("cam-main-st-bridge", 9, "fallen_tree", [float("nan")]))

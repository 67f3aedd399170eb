"""The whole loop on real parts: POST an event -> real worker -> real LLM -> routed ticket.

Needs PostgreSQL, a broker and the llama.cpp server (fixtures in tests/conftest.py).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from api.app import create_app
from api.config import ApiConfig
from dispatch.core.config import DispatchConfig
from dispatch.delivery.models import Delivery
from dispatch.incidents.models import Incident
from dispatch.tickets.models import Ticket
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.webauth import login

pytestmark = [pytest.mark.llm, pytest.mark.slow]
CATEGORIES = {"fallen_tree", "fallen_bicycle", "exposed_garbage", "waterlogging", "pothole",
              "graffiti", "streetlight_out", "abandoned_vehicle", "other"}


def wait_for_ticket(client: TestClient, event_id: str, timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ticket_id = client.get(f"/api/events/{event_id}").json().get("ticket_id")
        if ticket_id:
            ticket = client.get(f"/api/tickets/{ticket_id}").json()
            if any(h["action"] == "delivered" for h in ticket["history"]) or not ticket["agency"]:
                return ticket
        time.sleep(0.5)
    raise AssertionError(f"no ticket for event {event_id} within {timeout_s} s")


@pytest.fixture()
def live_config(clean_state: None, migrated_db: str, broker_url: str,
                llm_config: Any) -> DispatchConfig:
    return make_dispatch_config(migrated_db, broker_url, llm_config)


@pytest.fixture()
def client(live_config: DispatchConfig) -> Iterator[TestClient]:
    with TestClient(create_app(ApiConfig(dispatch=live_config))) as test_client:
        login(test_client, "tester")
        yield test_client


def test_event_becomes_routed_ticket_with_llm_writeup(
    client: TestClient, live_config: DispatchConfig, start_worker: Any
) -> None:
    start_worker(live_config)
    reply = client.post("/api/events", json={
        "source": "hotline", "lat": 41.625, "lon": -93.655,
        "description": "A big tree fell across Elm Street and blocks both lanes.",
        "occurred_at": "2026-06-01T14:00:00-05:00"})
    assert reply.status_code == 202, reply.text
    ticket = wait_for_ticket(client, reply.json()["id"])

    assert ticket["agency"] == "landscaping"
    assert ticket["routing"]["method"] == "rule"
    assert ticket["routing"]["rule_id"] == "default-fallen-tree"
    incident = ticket["incident"]
    assert incident["category"] in CATEGORIES
    assert incident["writeup"]["method"] == "llm"
    assert incident["writeup"]["model"]
    assert incident["title"].strip()
    assert incident["district"] == "north_bank"
    actions = [h["action"] for h in ticket["history"]]
    assert actions[:2] == ["routed", "delivered"]
    listed = client.get("/api/tickets", params={"agency": "landscaping"}).json()["items"]
    assert [t["id"] for t in listed] == [ticket["id"]]


def test_llm_down_still_makes_tickets_marked_for_triage(
    client: TestClient, migrated_db: str, broker_url: str, start_worker: Any
) -> None:
    start_worker(make_dispatch_config(migrated_db, broker_url, DOWN_LLM))
    routed = client.post("/api/events", json={
        "source": "web", "description": "Garbage bags dumped on the corner of Main St."}).json()
    unruled = client.post("/api/events", json={
        "source": "web", "description": "Strange smell near the fountain in the square."}).json()

    ticket = wait_for_ticket(client, routed["id"], timeout_s=60)
    assert ticket["agency"] == "sanitation"  # the keyword rules still decide
    assert ticket["needs_triage"] is True
    assert ticket["incident"]["writeup"]["method"] == "fallback"
    assert any("classifier" in r or "writer" in r for r in ticket["incident"]["triage_reasons"])

    lost = wait_for_ticket(client, unruled["id"], timeout_s=60)
    assert lost["status"] == "triage" and lost["agency"] is None
    assert "LLM unavailable" in lost["routing"]["reason"]


def _counts(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        out = {
            "incidents": conn.scalar(select(func.count()).select_from(Incident)) or 0,
            "tickets": conn.scalar(select(func.count()).select_from(Ticket)) or 0,
            "deliveries": conn.scalar(select(func.count()).select_from(Delivery)) or 0,
            "delivered_entries": conn.scalar(text(
                "SELECT count(*) FROM ticket_history WHERE action = 'delivered'")) or 0,
        }
    engine.dispose()
    return out


def test_same_task_delivered_twice_makes_one_ticket(
    client: TestClient, live_config: DispatchConfig, start_worker: Any
) -> None:
    from dispatch.core.queues import enqueue_understand

    event_id = client.post("/api/events", json={
        "source": "hotline", "category_hint": "pothole",
        "description": "Deep pothole on 5th Avenue near the school."}).json()["id"]
    enqueue_understand(event_id)  # the same message a second and third time, as a redelivery would
    enqueue_understand(event_id)
    start_worker(live_config)
    wait_for_ticket(client, event_id)
    time.sleep(3)  # let the duplicate messages finish too
    assert _counts(live_config.database_url) == {
        "incidents": 1, "tickets": 1, "deliveries": 1, "delivered_entries": 1}


def test_worker_killed_mid_task_loses_nothing_duplicates_nothing(
    client: TestClient, live_config: DispatchConfig, start_worker: Any
) -> None:
    texts = ["Tree down on Oak Road", "Overflowing trash bins at the park",
             "Flooded underpass on River Road", "Pothole on 5th Avenue",
             "Graffiti on the library wall", "Street light out on Pine Street",
             "Bikes knocked over on the sidewalk", "Abandoned car with flat tires"]
    ids = [client.post("/api/events", json={"source": "web", "description": t}).json()["id"]
           for t in texts]
    worker = start_worker(live_config)
    deadline = time.monotonic() + 120
    while _counts(live_config.database_url)["incidents"] < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    worker.kill(signal.SIGKILL)  # the whole worker, children included, in the middle of work
    assert _counts(live_config.database_url)["tickets"] < len(texts), "killed too late to matter"
    start_worker(live_config)
    start_worker(live_config, command="beat")
    for event_id in ids:
        wait_for_ticket(client, event_id, timeout_s=240)
    time.sleep(3)
    n = len(texts)
    assert _counts(live_config.database_url) == {
        "incidents": n, "tickets": n, "deliveries": n, "delivered_entries": n}

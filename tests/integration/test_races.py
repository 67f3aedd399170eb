"""The races of issue 16, closed: the inbox's live refresh follows commits (not ids or
clocks), one hotline conversation's concurrent messages both land, and a broker that is
down after a commit leaves the change standing and the work to the sweeper."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy import select

from api.app import create_app
from api.config import ApiConfig
from dispatch.core.config import DispatchConfig
from dispatch.core.db import transaction
from dispatch.core.runtime import get_runtime
from dispatch.hotline import flows as hotline_flows
from dispatch.hotline.kb import KbIndex
from dispatch.incidents import flows as incident_flows
from dispatch.sla import scheduled
from dispatch.tickets.models import Ticket
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.tickets import make_ticket
from tests.helpers.webauth import login


@pytest.fixture()
def config(migrated_db: str, broker_url: str, clean_state: None) -> DispatchConfig:
    return make_dispatch_config(migrated_db, broker_url, DOWN_LLM)


@pytest.fixture()
def staff(config: DispatchConfig) -> Iterator[TestClient]:
    with TestClient(create_app(ApiConfig(dispatch=config))) as client:
        login(client, "lee", "staff", "landscaping")
        yield client


def poll_url(html: str) -> str:
    found = re.search(r'<div id="new-tickets" hx-get="([^"]+)"', html)
    assert found is not None
    return found.group(1).replace("&amp;", "&")


def incident_without_ticket(client: TestClient, description: str) -> uuid.UUID:
    event = client.post("/api/events", json={
        "source": "hotline", "description": description, "category_hint": "fallen_tree",
        "lat": 41.62, "lon": -93.65, "occurred_at": "2024-07-15T12:00:00-05:00"})
    assert event.status_code == 202, event.text
    rt = get_runtime()
    incident_id = incident_flows.understand_event(factory=rt.factory, city=rt.city, chat=None,
                                                  event_id=uuid.UUID(event.json()["id"]))
    assert incident_id is not None
    return incident_id


def test_a_ticket_committed_after_the_page_was_drawn_shows_though_its_id_is_lower(
        staff: TestClient) -> None:
    """Its transaction took its id before a later ticket's, and committed after the page drew
    that later one: polling for ids above the page's newest never showed it."""
    slow_incident = incident_without_ticket(staff, "A tree fell on the school path")
    slow = get_runtime().factory()
    slow.begin()
    ticket = Ticket(
        reference="slow-1", incident_id=slow_incident, agency="landscaping", status="open",
        priority="high", category="fallen_tree", district=None, title="Tree on the school path",
        needs_triage=False, routing={"method": "rule"}, routing_seq=1, rejected_by=[],
        sla_due_at=datetime.now(UTC) + timedelta(hours=4))
    slow.add(ticket)
    slow.flush()  # its id is taken now; its commit comes later
    try:
        later = make_ticket(staff, "A large tree fell on Mill Street")
        assert later > ticket.id
        page = staff.get("/inbox").text
        assert f'/tickets/{later}"' in page and f'/tickets/{ticket.id}"' not in page
        url = poll_url(page)
        assert f'/tickets/{ticket.id}"' not in staff.get(url).text
    finally:
        slow.commit()
        slow.close()
    fresh = staff.get(url).text
    assert f'/tickets/{ticket.id}"' in fresh
    assert f'/tickets/{later}"' not in fresh  # the page showed it already


def test_a_reassignment_committed_after_the_page_was_drawn_shows(
        staff: TestClient, config: DispatchConfig) -> None:
    """Its arrival time is taken inside the transaction, before the page's clock: polling by
    time never showed it either."""
    with TestClient(create_app(ApiConfig(dispatch=config))) as dispatcher:
        login(dispatcher, "dee", "dispatcher")
        other = make_ticket(dispatcher, "Garbage bags dumped on Oak Avenue",
                            category_hint="exposed_garbage")
    slow = get_runtime().factory()
    slow.begin()
    moved = slow.get(Ticket, other)
    assert moved is not None and moved.agency != "landscaping"
    moved.agency, moved.arrived_at = "landscaping", datetime.now(UTC)
    slow.flush()
    try:
        url = poll_url(staff.get("/inbox").text)
    finally:
        slow.commit()
        slow.close()
    assert f'/tickets/{other}"' in staff.get(url).text


def test_two_messages_of_one_conversation_both_land(
        config: DispatchConfig, staff: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each answer is worked out from the state the other one left (the row is locked across
    the answer), not both from the same old state."""
    rt = get_runtime()
    seen: list[tuple[str, str]] = []
    real = hotline_flows.respond

    def slow_respond(text: str, state: Any, tools: Any, cfg: Any) -> Any:
        reply, after = real(text, state, tools, cfg)
        time.sleep(0.5)  # the window in which an unlocked second message reads the old state
        seen.append((state.model_dump_json(), after.model_dump_json()))
        return reply, after

    monkeypatch.setattr(hotline_flows, "respond", slow_respond)

    def say(conversation: uuid.UUID | None, text: str) -> uuid.UUID:
        conversation_id, _ = hotline_flows.converse(
            factory=rt.factory, city=rt.city, chat=None, index=KbIndex(),
            max_image_bytes=100_000, conversation_id=conversation, text=text)
        return conversation_id

    conversation = say(None, "I want to report a fallen tree blocking the sidewalk")
    seen.clear()
    threads = [threading.Thread(target=say, args=(conversation, text))
               for text in ("Elm Street 14, near the school", "this morning")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (first_in, first_out), (second_in, _) = seen
    assert second_in == first_out != first_in


def broker_down(*_: object, **__: object) -> None:
    raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_an_action_stands_when_the_broker_is_down_after_its_commit(
        staff: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    ticket_id = make_ticket(staff, "A large tree fell on Mill Street")
    monkeypatch.setattr("dispatch.tickets.flows.enqueue_route", broker_down)
    answer = staff.post(f"/api/tickets/{ticket_id}/reject",
                        json={"actor": "x", "reason": "not ours: a private garden"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["ticket"]["status"] == "rejected"
    with transaction(get_runtime().factory) as db:
        ticket = db.get(Ticket, ticket_id)
        assert ticket is not None and ticket.status == "rejected"
        assert [h.action for h in ticket.history][-1] == "reject"
        incident_id = ticket.incident_id
    with transaction(get_runtime().factory) as db:  # the sweeper routes it again
        assert incident_id in scheduled.unrouted_incidents(db_session=db, older_than_s=-60)


def test_a_clip_is_kept_and_swept_when_the_broker_is_down(
        staff: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dispatch.cameras import tasks
    from dispatch.cameras.flows import submit_clip
    from dispatch.cameras.models import ClipJob
    from tests.helpers.synthetic import H, W, scene, write_video

    clip = write_video(tmp_path / "street.mp4", scene(10, W, H))
    monkeypatch.setattr("dispatch.cameras.flows.enqueue_clip", broker_down)
    with clip.open("rb") as stream, get_runtime().factory() as db:
        job_id, queued = submit_clip(db_session=db, spool_dir=tmp_path / "spool",
                                     max_bytes=10_000_000, camera_id="cam-1",
                                     filename="street.mp4", stream=stream, submitted_by="lee")
    assert queued is False
    assert (tmp_path / "spool" / f"{job_id}.clip").exists()
    with transaction(get_runtime().factory) as db:
        job = db.scalar(select(ClipJob).where(ClipJob.id == job_id))
        assert job is not None and job.status == "queued"
        job.created_at = datetime.now(UTC) - timedelta(minutes=5)
    sent: list[uuid.UUID] = []
    monkeypatch.setattr(tasks, "enqueue_clip", sent.append)
    monkeypatch.setattr("dispatch.tasks.queue_depth", lambda queue: 0)
    assert tasks.sweep_clips() == 1 and sent == [job_id]

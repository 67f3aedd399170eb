"""Poison work leaves the queues (issue 16): an item its task fails on three times is
quarantined with the error, the sweeper stops sending it, dispatchers see it beside the
failed deliveries and retry or discard it, and reading it never answers 500.

The poison: an event stored with an image type the verifier refuses (``image/gif``), as a
row written by an older version, or by hand, would be: understanding it raises every time.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import update

from api.app import create_app
from api.config import ApiConfig
from dispatch.core.db import transaction
from dispatch.core.queues import DELIVER_TASK, ROUTE_TASK, UNDERSTAND_TASK
from dispatch.core.runtime import get_runtime
from dispatch.intake.models import Event
from dispatch.quarantine import service
from dispatch.quarantine.models import QuarantinedItem
from dispatch.sla import scheduled
from dispatch.tickets.models import Ticket
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.services import CeleryProcess
from tests.helpers.tickets import make_ticket
from tests.helpers.webauth import login


@pytest.fixture()
def client(migrated_db: str, broker_url: str, clean_state: None) -> Iterator[TestClient]:
    config = ApiConfig(dispatch=make_dispatch_config(migrated_db, broker_url, DOWN_LLM))
    with TestClient(create_app(config)) as test_client:
        login(test_client, "disa", "dispatcher")
        yield test_client


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 40)).save(out, format="PNG")
    return out.getvalue()


def poison_event(age: timedelta = timedelta(minutes=1)) -> uuid.UUID:
    event_id = uuid.uuid4()
    with transaction(get_runtime().factory) as db:
        db.add(Event(id=event_id, source="camera", description="Fallen tree on Elm Street",
                     status="received", flags=[], image=b"GIF89a not really",
                     image_content_type="image/gif", received_at=datetime.now(UTC) - age))
    return event_id


def cure(event_id: uuid.UUID) -> None:
    with transaction(get_runtime().factory) as db:
        db.execute(update(Event).where(Event.id == event_id)
                   .values(image=png(), image_content_type="image/png"))


def row(task: str, item: object) -> QuarantinedItem | None:
    with get_runtime().factory() as db:
        return service.failures_of(db_session=db, task=task, item=str(item))


def status_of(event_id: uuid.UUID) -> str:
    with get_runtime().factory() as db:
        event = db.get(Event, event_id)
        assert event is not None
        return event.status


def test_a_task_failing_three_times_on_an_event_quarantines_it(client: TestClient) -> None:
    from dispatch.tasks import understand_event

    event_id = poison_event()
    for attempt in range(1, service.FAILURES_BEFORE_QUARANTINE + 1):
        assert understand_event.apply(args=[str(event_id)]).state == "FAILURE"
        found = row(UNDERSTAND_TASK, event_id)
        assert found is not None and found.failures == attempt
        assert "ValidationError" in found.error
    found = row(UNDERSTAND_TASK, event_id)
    assert found is not None and found.quarantined_at is not None
    assert status_of(event_id) == "failed"
    assert understand_event.apply(args=[str(event_id)]).state == "IGNORED"  # not run again
    with get_runtime().factory() as db:
        assert scheduled.stalled_events(db_session=db, older_than_s=0) == []
    read = client.get(f"/api/events/{event_id}")
    assert read.status_code == 200 and read.json()["status"] == "failed"


def test_a_success_forgets_earlier_failures(client: TestClient) -> None:
    from dispatch.tasks import understand_event

    event_id = poison_event()
    assert understand_event.apply(args=[str(event_id)]).state == "FAILURE"
    cure(event_id)
    assert understand_event.apply(args=[str(event_id)]).state == "SUCCESS"
    assert row(UNDERSTAND_TASK, event_id) is None
    assert status_of(event_id) == "processed"


def quarantine(task: str, item: object) -> int:
    with transaction(get_runtime().factory) as db:
        for _ in range(service.FAILURES_BEFORE_QUARANTINE):
            service.record_failure(db_session=db, task=task, item=str(item), error="Boom: x")
    found = row(task, item)
    assert found is not None and found.quarantined_at is not None
    return found.id


def test_the_sweeper_leaves_quarantined_incidents_and_tickets_alone(client: TestClient) -> None:
    ticket_id = make_ticket(client, "A large tree fell on Mill Street")
    with transaction(get_runtime().factory) as db:
        ticket = db.get(Ticket, ticket_id)
        assert ticket is not None
        incident_id = ticket.incident_id
        db.delete(ticket)  # an incident without its ticket, a ticket without its delivery
    other = make_ticket(client, "Another tree fell on Mill Street")
    with transaction(get_runtime().factory) as db:
        assert incident_id in scheduled.unrouted_incidents(db_session=db, older_than_s=-60)
    quarantine(ROUTE_TASK, incident_id)
    quarantine(DELIVER_TASK, other)
    with transaction(get_runtime().factory) as db:
        assert incident_id not in scheduled.unrouted_incidents(db_session=db, older_than_s=-60)
        assert other not in [t[0] for t in scheduled.undelivered_tickets(
            db_session=db, older_than_s=-60)]


def test_dispatchers_see_retry_and_discard_quarantined_work(client: TestClient) -> None:
    poisoned, abandoned = poison_event(), poison_event()
    first, second = quarantine(UNDERSTAND_TASK, poisoned), quarantine(UNDERSTAND_TASK, abandoned)
    listed = client.get("/api/dead-letters").json()["quarantined"]
    assert {q["item"] for q in listed} == {str(poisoned), str(abandoned)}
    assert all(q["what"] == "event" and q["error"] == "Boom: x" for q in listed)
    page = client.get("/dead-letters").text
    assert f'id="quarantined-{first}"' in page and "Boom: x" in page
    discarded = client.post(f"/dead-letters/quarantine/{second}/discard", follow_redirects=False)
    assert discarded.status_code == 303
    again = client.post(f"/api/quarantine/{second}/discard")
    assert again.status_code == 409
    assert status_of(abandoned) == "failed"
    cure(poisoned)
    retried = client.post(f"/api/quarantine/{first}/retry")
    assert retried.status_code == 200, retried.text
    assert row(UNDERSTAND_TASK, poisoned) is None and status_of(poisoned) == "received"
    assert [q["item"] for q in client.get("/api/quarantine").json()] == []
    assert len(client.get("/api/quarantine?include_discarded=true").json()) == 1
    assert client.post("/api/quarantine/999/retry").status_code == 404


def test_staff_of_an_agency_do_not_see_quarantined_work(client: TestClient) -> None:
    client.cookies.clear()
    login(client, "sam", "staff", "landscaping")
    assert client.get("/api/quarantine").status_code == 403


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_a_real_worker_quarantines_poison_and_the_sweeper_stops_sending_it(
        client: TestClient, migrated_db: str, broker_url: str,
        start_worker: Callable[..., CeleryProcess]) -> None:
    """The worker and beat as deployed; the sweeper re-sends the stalled event every 3 s until
    the third failure quarantines it, then never again."""
    event_id = poison_event()
    config = make_dispatch_config(migrated_db, broker_url, DOWN_LLM)
    worker = start_worker(config)
    start_worker(config, command="beat")

    def quarantined() -> QuarantinedItem | None:
        found = row(UNDERSTAND_TASK, event_id)
        return found if found is not None and found.quarantined_at is not None else None

    found = wait_for(quarantined, 120, "the poison event's quarantine")
    assert found.failures == service.FAILURES_BEFORE_QUARANTINE
    received = worker.log().count("cityloop.understand_event[")
    time.sleep(4 * config.sweep_interval_s)  # several sweeps
    assert row(UNDERSTAND_TASK, event_id).failures == service.FAILURES_BEFORE_QUARANTINE  # type: ignore[union-attr]
    assert worker.log().count("cityloop.understand_event[") == received, worker.log()[-3000:]
    assert client.get(f"/api/events/{event_id}").json()["status"] == "failed"
    cure(event_id)
    assert client.post(f"/api/quarantine/{found.id}/retry").json()["queued"] is True
    wait_for(lambda: status_of(event_id) == "processed", 120, "the retried event's incident")

"""Beat work: overdue tickets are flagged once; stalled pipeline work is found again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from dispatch.core.db import transaction
from dispatch.core.runtime import get_runtime
from dispatch.sla import scheduled
from dispatch.tickets.models import Ticket
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.tickets import make_ticket
from tests.helpers.webauth import login


@pytest.fixture()
def client(migrated_db: str, broker_url: str, clean_state: None) -> Iterator[TestClient]:
    config = ApiConfig(dispatch=make_dispatch_config(migrated_db, broker_url, DOWN_LLM))
    with TestClient(create_app(config)) as test_client:
        login(test_client, "tester")
        yield test_client


def test_overdue_ticket_is_flagged_once_with_history(client: TestClient) -> None:
    ticket_id = make_ticket(client, "Tree fell on the sidewalk")
    factory = get_runtime().factory
    with transaction(factory) as db:
        ticket = db.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.sla_due_at = datetime.now(UTC) - timedelta(minutes=1)
    with transaction(factory) as db:
        assert scheduled.flag_overdue(db_session=db) == [ticket_id]
    with transaction(factory) as db:
        assert scheduled.flag_overdue(db_session=db) == []
    body = client.get(f"/api/tickets/{ticket_id}").json()
    assert body["sla_breached"] is True
    assert [h["action"] for h in body["history"]].count("sla_breached") == 1


def test_resolved_ticket_is_not_flagged(client: TestClient) -> None:
    ticket_id = make_ticket(client, "Tree fell on the sidewalk")
    for action in ("acknowledge", "resolve"):
        client.post(f"/api/tickets/{ticket_id}/{action}", json={"actor": "crew:bo"})
    factory = get_runtime().factory
    with transaction(factory) as db:
        ticket = db.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.sla_due_at = datetime.now(UTC) - timedelta(minutes=1)
    with transaction(factory) as db:
        assert scheduled.flag_overdue(db_session=db) == []


def test_sweep_finds_events_whose_message_was_lost(client: TestClient) -> None:
    event_id = client.post("/api/events", json={
        "source": "web", "description": "Graffiti on the bridge"}).json()["id"]
    factory = get_runtime().factory
    with transaction(factory) as db:
        assert scheduled.stalled_events(db_session=db, older_than_s=3600) == []
        found = scheduled.stalled_events(db_session=db, older_than_s=0)
    assert [str(e) for e in found] == [event_id]


def test_sweep_leaves_a_backlogged_queue_alone(client: TestClient) -> None:
    """Under a backlog an "old" event is usually still queued: no duplicate message for it.
    Once the queue has drained, a really lost message is sent again."""
    import redis

    from dispatch.core.celery_app import UNDERSTAND_QUEUE
    from dispatch.tasks import queue_depth, sweep

    rt = get_runtime()
    client.post("/api/events", json={"source": "web", "description": "Graffiti on the bridge"})
    assert queue_depth(UNDERSTAND_QUEUE) == 1  # the API's own message, no worker to take it
    rt.config.stale_event_after_s = 0
    try:
        assert sweep()["events"] == 0 and queue_depth(UNDERSTAND_QUEUE) == 1
        redis.Redis.from_url(rt.config.broker_url).delete(UNDERSTAND_QUEUE)  # the message is lost
        assert queue_depth(UNDERSTAND_QUEUE) == 0
        assert sweep()["events"] == 1 and queue_depth(UNDERSTAND_QUEUE) == 1
    finally:
        rt.config.stale_event_after_s = 5

"""Channel delivery through a real Celery worker to real local receivers: a signed webhook,
an e-mail over SMTP and an Open311 forward each arrive once, retries back off to success,
the last failure becomes a dead letter that operators see and retry, and duplicate
messages or two workers at once never send twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dispatch.core.queues import enqueue_channel, enqueue_delivery
from dispatch.core.runtime import get_runtime
from dispatch.delivery import (
    SIGNATURE_HEADER,
    PermanentDeliveryError,
    TransientDeliveryError,
    outbox,
)
from dispatch.delivery import flows as delivery_flows
from dispatch.delivery.models import DeadLetter, Delivery
from dispatch.delivery.registry import claim_lease
from tests.helpers.delivery import configured, rows, running
from tests.helpers.receivers import (
    ENV,
    OPEN311_KEY,
    WEBHOOK_SECRET,
    HttpReceiver,
    MailBox,
    serve_http,
    serve_smtp,
    wait_until,
)
from tests.helpers.services import empty_broker
from tests.helpers.tickets import make_ticket
from tests.helpers.webauth import login

TREE = "A big branch fell across the sidewalk on Mill Street"


@pytest.fixture()
def http() -> Iterator[HttpReceiver]:
    state, stop = serve_http()
    yield state
    stop()


@pytest.fixture()
def smtp() -> Iterator[tuple[MailBox, int]]:
    yield from serve_smtp()


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def statuses(ticket_id: int) -> dict[str, str]:
    return {channel: row.status for channel, row in rows(ticket_id).items()}


def history(client: TestClient, ticket_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    return list(response.json()["history"])


def delivered_channels(client: TestClient, ticket_id: int) -> list[str]:
    return sorted(h["data"]["channel"] for h in history(client, ticket_id) if h["action"] == "delivered")


def test_every_channel_delivers_once_despite_duplicate_messages(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None, http: HttpReceiver,
    smtp: tuple[MailBox, int], start_worker: Any,
) -> None:
    box, port = smtp
    config = configured(tmp_path, migrated_db, broker_url, http_url=http.url, smtp_port=port)
    with running(config) as client:
        ticket_id = make_ticket(client, TREE)
        for _ in range(3):  # the same message three times, as redeliveries would
            enqueue_delivery(ticket_id, 1, "landscaping")
        start_worker(config)
        everything = {"inbox": "sent", "webhook": "sent", "email": "sent", "open311": "sent"}
        wait_until(lambda: statuses(ticket_id) == everything, what="every channel sent")
        for row in rows(ticket_id).values():  # and each channel's task again, after the fact
            if row.channel != "inbox":
                enqueue_channel(row.id, "landscaping")
        time.sleep(3)

        [hook] = http.on("/hook")
        assert hook.headers[SIGNATURE_HEADER] == "sha256=" + hmac.new(
            WEBHOOK_SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
        assert hook.headers["Idempotency-Key"] == f"ticket-{ticket_id}-webhook-1"
        sent = json.loads(hook.body)
        reference = sent["reference"]
        assert (sent["ticket_id"], sent["agency"], sent["category"]) == (
            ticket_id, "landscaping", "fallen_tree")

        [(recipients, raw)] = box.messages
        mail = message_from_bytes(raw)
        assert recipients == ["desk@landscaping.example"]
        assert reference in mail["Subject"]
        assert mail["Message-ID"] == f"<ticket-{ticket_id}-email-1@cityloop>"

        [forward] = http.on("/311/requests.json")
        form = {k: v[0] for k, v in parse_qs(forward.body.decode()).items()}
        assert form["api_key"] == OPEN311_KEY
        assert form["service_code"] == "RT-001"
        assert (form["lat"], form["long"]) == ("41.620000", "-93.650000")
        assert reference in form["description"]
        assert rows(ticket_id)["open311"].remote_ref is not None

        assert delivered_channels(client, ticket_id) == ["email", "inbox", "open311", "webhook"]


def test_webhook_answering_500_then_200_is_delivered_once(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None, http: HttpReceiver,
    start_worker: Any,
) -> None:
    http.statuses["/hook"] = [500, 500, 204]
    config = configured(tmp_path, migrated_db, broker_url, http_url=http.url, smtp_port=None,
                        max_tries=3)
    with running(config) as client:
        ticket_id = make_ticket(client, TREE)
        enqueue_delivery(ticket_id, 1, "landscaping")
        start_worker(config)
        wait_until(lambda: statuses(ticket_id).get("webhook") == "sent", what="webhook sent")
        assert [r.headers["Idempotency-Key"] for r in http.on("/hook")] == [
            f"ticket-{ticket_id}-webhook-1"] * 3  # the same key on every try
        assert rows(ticket_id)["webhook"].attempts == 3
        assert delivered_channels(client, ticket_id).count("webhook") == 1
        assert client.get("/api/dead-letters").json()["items"] == []


def test_always_failing_webhook_is_dead_lettered_then_retried_by_an_operator(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None, http: HttpReceiver,
    start_worker: Any,
) -> None:
    http.statuses["/hook"] = [503]
    config = configured(tmp_path, migrated_db, broker_url, http_url=http.url, smtp_port=None,
                        max_tries=3)
    with running(config) as client:
        ticket_id = make_ticket(client, TREE)
        enqueue_delivery(ticket_id, 1, "landscaping")
        start_worker(config)
        wait_until(lambda: statuses(ticket_id).get("webhook") == "dead", what="dead letter")
        assert len(http.on("/hook")) == 3

        [letter] = client.get("/api/dead-letters").json()["items"]
        assert (letter["ticket_id"], letter["channel"], letter["agency"], letter["attempts"]) == (
            ticket_id, "webhook", "landscaping", 3)
        assert "HTTP 503" in letter["last_error"]
        assert letter["payload"]["reference"] == letter["ticket_reference"]
        failed = [h for h in history(client, ticket_id) if h["action"] == "delivery_failed"]
        assert len(failed) == 1 and failed[0]["data"]["dead_letter_id"] == letter["id"]
        assert client.get(f"/api/tickets/{ticket_id}").json()["status"] == "open"  # not lost
        page = client.get("/dead-letters")
        assert page.status_code == 200 and letter["ticket_reference"] in page.text

        http.statuses["/hook"] = [204]
        retried = client.post(f"/api/dead-letters/{letter['id']}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["dead_letter"]["retried_by"] == "ann"
        wait_until(lambda: statuses(ticket_id)["webhook"] == "sent", what="retried webhook sent")
        assert len(http.on("/hook")) == 4
        again = client.post(f"/api/dead-letters/{letter['id']}/retry")
        assert again.status_code == 409 and "already retried" in again.json()["detail"]
        assert client.get("/api/dead-letters").json()["items"] == []
        assert len(client.get("/api/dead-letters?include_retried=true").json()["items"]) == 1

        client.cookies.clear()
        login(client, "sam", role="staff", agency="landscaping")
        assert client.get("/api/dead-letters").status_code == 403
        assert client.post(f"/api/dead-letters/{letter['id']}/retry").status_code == 403


def test_two_workers_sending_the_same_delivery_send_once(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None, http: HttpReceiver,
) -> None:
    http.delay_s = 1.0  # both tries overlap the send
    config = configured(tmp_path, migrated_db, broker_url, http_url=http.url, smtp_port=None)
    with running(config) as client:
        ticket_id = make_ticket(client, TREE)
        rt = get_runtime()
        assert delivery_flows.record_inbox_delivery(factory=rt.factory, ticket_id=ticket_id, routing_seq=1,
                                    city=rt.city)
        hook_id = rows(ticket_id)["webhook"].id
        outcomes: list[str] = []

        def send() -> None:
            outcomes.append(outbox.attempt(factory=rt.factory, city=rt.city,
                                           delivery_id=hook_id, env=ENV).status)

        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["sent", "skipped"]
        assert outbox.attempt(factory=rt.factory, city=rt.city, delivery_id=hook_id,
                              env=ENV).status == "skipped"
        assert len(http.on("/hook")) == 1


def planned_webhook(client: TestClient) -> tuple[int, int]:
    """A new ticket delivered to the inbox with its channels planned: (ticket id, webhook row id)."""
    ticket_id = make_ticket(client, TREE)
    rt = get_runtime()
    assert delivery_flows.record_inbox_delivery(factory=rt.factory, ticket_id=ticket_id, routing_seq=1,
                                city=rt.city)
    return ticket_id, rows(ticket_id)["webhook"].id


def expire_claim(delivery_id: int) -> None:
    """As if the worker holding the claim had outlived its lease."""
    with get_runtime().factory() as db, db.begin():
        row = db.get(Delivery, delivery_id)
        assert row is not None and row.status == "sending" and row.claimed_at is not None
        assert row.next_attempt_at is not None and row.next_attempt_at > row.claimed_at  # the lease
        row.claimed_at, row.next_attempt_at = datetime.now(UTC) - timedelta(minutes=2), datetime.now(UTC)


def test_an_expired_claim_does_not_overwrite_the_newer_claim_s_outcome(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None, http: HttpReceiver,
) -> None:
    """A send that outlived its claim's lease: a second worker claimed the row meanwhile. The first
    worker's late failure must not put the row back to pending (a third send would follow);
    its late success is recorded, so nobody sends again."""
    config = configured(tmp_path, migrated_db, broker_url, http_url=http.url, smtp_port=None)
    with running(config) as client:
        ticket_id, hook_id = planned_webhook(client)
        rt = get_runtime()
        first = outbox.claim(factory=rt.factory, city=rt.city, delivery_id=hook_id)
        assert first is not None and first.attempts == 1
        assert outbox.claim(factory=rt.factory, city=rt.city, delivery_id=hook_id) is None  # held
        expire_claim(hook_id)
        second = outbox.claim(factory=rt.factory, city=rt.city, delivery_id=hook_id)
        assert second is not None and second.attempts == 2

        late = outbox.mark_failed(factory=rt.factory, city=rt.city, taken=first,
                                  error=TransientDeliveryError("HTTP 503"))
        assert late.status == "skipped"
        row = rows(ticket_id)["webhook"]
        assert (row.status, row.attempts, row.last_error) == ("sending", 2, None)

        outbox.mark_sent(factory=rt.factory, taken=first, remote_ref=None)  # it did go out
        assert rows(ticket_id)["webhook"].status == "sent"
        outbox.mark_failed(factory=rt.factory, city=rt.city, taken=second,
                           error=TransientDeliveryError("HTTP 503"))
        assert rows(ticket_id)["webhook"].status == "sent"  # the newer failure changes nothing
        assert outbox.claim(factory=rt.factory, city=rt.city, delivery_id=hook_id) is None


def test_a_claim_holds_for_its_channel_s_lease_then_the_sweep_finds_it(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None, http: HttpReceiver,
) -> None:
    """A worker SIGKILLed mid-send leaves its claim: the sweep takes it back when the lease
    (three times the webhook's timeout and 15 s) lapses, not after a fixed five minutes."""
    config = configured(tmp_path, migrated_db, broker_url, http_url=http.url, smtp_port=None)
    with running(config) as client:
        ticket_id, hook_id = planned_webhook(client)
        rt = get_runtime()
        agency = rt.city.agency(rows(ticket_id)["webhook"].agency)
        assert agency is not None and agency.webhook is not None
        assert outbox.claim(factory=rt.factory, city=rt.city, delivery_id=hook_id) is not None
        row = rows(ticket_id)["webhook"]
        assert row.claimed_at is not None and row.next_attempt_at is not None
        assert row.next_attempt_at - row.claimed_at == timedelta(seconds=3 * agency.webhook.timeout_s + 15)
        with rt.factory() as db:
            assert outbox.stalled(db_session=db, older_than_s=3600) == []  # the lease holds
        with rt.factory() as db, db.begin():
            held = db.get(Delivery, hook_id)
            assert held is not None
            held.claimed_at = datetime.now(UTC) - timedelta(minutes=1)  # the worker died a lease ago
            held.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)
        with rt.factory() as db:
            assert outbox.stalled(db_session=db, older_than_s=3600) == [(hook_id, row.agency)]
        again = outbox.claim(factory=rt.factory, city=rt.city, delivery_id=hook_id)
        assert again is not None and again.attempts == 2
        # a worker of the release before leases leaves a retry's time, earlier than its claim: no lease
        with rt.factory() as db, db.begin():
            held = db.get(Delivery, hook_id)
            assert held is not None
            held.claimed_at = datetime.now(UTC) - timedelta(seconds=5)
            held.next_attempt_at = held.claimed_at - timedelta(seconds=30)
        with rt.factory() as db:
            assert outbox.stalled(db_session=db, older_than_s=3600) == []  # it holds CLAIM_TTL
        assert outbox.claim(factory=rt.factory, city=rt.city, delivery_id=hook_id) is None
        # e-mail holds 5 min whatever its timeout: SMTP's timeout bounds a step, not the send
        assert claim_lease(rt.city, row.agency, "escalation-1") >= timedelta(minutes=5)
        assert claim_lease(rt.city, row.agency, "webhook") < timedelta(minutes=1)


def test_a_late_success_settles_the_dead_letter_the_newer_claim_wrote(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None, http: HttpReceiver,
) -> None:
    """Otherwise an operator's retry of that letter would send the ticket a second time."""
    config = configured(tmp_path, migrated_db, broker_url, http_url=http.url, smtp_port=None)
    with running(config) as client:
        ticket_id, hook_id = planned_webhook(client)
        rt = get_runtime()
        first = outbox.claim(factory=rt.factory, city=rt.city, delivery_id=hook_id)
        assert first is not None
        expire_claim(hook_id)
        second = outbox.claim(factory=rt.factory, city=rt.city, delivery_id=hook_id)
        assert second is not None
        dead = outbox.mark_failed(factory=rt.factory, city=rt.city, taken=second,
                                  error=PermanentDeliveryError("HTTP 404"))
        assert dead.status == "dead"
        with rt.factory() as db:
            letter = db.scalar(select(DeadLetter).where(DeadLetter.delivery_id == hook_id))
            assert letter is not None and letter.retried_at is None
        outbox.mark_sent(factory=rt.factory, taken=first, remote_ref=None)  # it did arrive
        assert rows(ticket_id)["webhook"].status == "sent"
        with rt.factory() as db:
            letter = db.scalar(select(DeadLetter).where(DeadLetter.delivery_id == hook_id))
            assert letter is not None and letter.retried_by == "system:delivery"
        assert client.get("/api/dead-letters").json()["items"] == []


def test_sweep_resends_deliveries_a_crash_left_pending_or_claimed(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None, http: HttpReceiver,
    start_worker: Any,
) -> None:
    config = configured(tmp_path, migrated_db, broker_url, http_url=http.url, smtp_port=None)
    with running(config) as client:
        ticket_id = make_ticket(client, TREE)
        rt = get_runtime()
        # the inbox delivery committed, then the worker died before enqueueing the channels
        assert delivery_flows.record_inbox_delivery(factory=rt.factory, ticket_id=ticket_id, routing_seq=1,
                                    city=rt.city)
        with rt.factory() as db, db.begin():  # and another one died in the middle of a send
            row = db.scalar(select(Delivery).where(Delivery.ticket_id == ticket_id,
                                                   Delivery.channel == "open311"))
            assert row is not None
            row.status, row.attempts = "sending", 1
            row.claimed_at = datetime.now(UTC) - outbox.CLAIM_TTL - timedelta(seconds=1)
        with rt.factory() as db:
            assert outbox.stalled(db_session=db, older_than_s=3600) == [(row.id, "landscaping")]
        empty_broker(broker_url)  # only the sweep can find the work now
        start_worker(config)
        start_worker(config, command="beat")
        wait_until(lambda: statuses(ticket_id) == {"inbox": "sent", "webhook": "sent",
                                                   "open311": "sent"},
                   timeout_s=90, what="swept deliveries sent")
        assert len(http.on("/hook")) == 1
        assert len(http.on("/311/requests.json")) == 1
        assert rows(ticket_id)["open311"].attempts == 2
        with rt.factory() as db:
            assert db.scalars(select(DeadLetter)).all() == []
        assert delivered_channels(client, ticket_id) == ["inbox", "open311", "webhook"]

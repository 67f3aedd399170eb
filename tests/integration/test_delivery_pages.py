"""The dead-letter page and routes: operators only, sign-in and CSRF like every page, a
retry from the page queues the delivery again (no worker here: the row is checked)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dispatch.core.runtime import get_runtime
from dispatch.delivery import flows as delivery_flows
from dispatch.delivery import outbox
from tests.helpers.delivery import configured, rows, running
from tests.helpers.receivers import ENV, HttpReceiver, serve_http
from tests.helpers.tickets import make_ticket
from tests.helpers.webauth import csrf_of, login


@pytest.fixture()
def http() -> Iterator[HttpReceiver]:
    state, stop = serve_http()
    yield state
    stop()


def dead_webhook(client: TestClient, http: HttpReceiver) -> int:
    """A ticket whose webhook answered 404: dead on the first try. Returns the letter id."""
    http.statuses["/hook"] = [404]
    ticket_id = make_ticket(client, "A big branch fell across the sidewalk on Mill Street")
    rt = get_runtime()
    assert delivery_flows.record_inbox_delivery(factory=rt.factory, ticket_id=ticket_id, routing_seq=1, city=rt.city)
    outcome = outbox.attempt(factory=rt.factory, city=rt.city,
                             delivery_id=rows(ticket_id)["webhook"].id, env=ENV)
    assert outcome.status == "dead" and "HTTP 404" in outcome.detail
    [letter] = client.get("/api/dead-letters").json()["items"]
    return int(letter["id"])


def test_page_lists_and_retries_with_csrf(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None, http: HttpReceiver,
) -> None:
    config = configured(tmp_path, migrated_db, broker_url, http_url=http.url, smtp_port=None)
    with running(config) as client:
        letter_id = dead_webhook(client, http)
        page = client.get("/dead-letters")
        assert page.status_code == 200
        assert f'id="dead-letter-{letter_id}"' in page.text and "HTTP 404" in page.text
        token = csrf_of(page.text)
        del client.headers["X-CSRF-Token"]
        refused = client.post(f"/dead-letters/{letter_id}/retry", data={"csrf_token": "wrong"})
        assert refused.status_code == 403
        done = client.post(f"/dead-letters/{letter_id}/retry", data={"csrf_token": token},
                           follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == f"/dead-letters?retried={letter_id}"
        assert "queued for another try" in client.get(done.headers["location"]).text
        ticket_id = client.get(f"/api/dead-letters/{letter_id}").json()["ticket_id"]
        assert rows(ticket_id)["webhook"].status == "pending"
        twice = client.post(f"/dead-letters/{letter_id}/retry", data={"csrf_token": token})
        assert twice.status_code == 409 and "already retried" in twice.text


def test_strangers_and_agency_staff_are_refused(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None, http: HttpReceiver,
) -> None:
    config = configured(tmp_path, migrated_db, broker_url, http_url=http.url, smtp_port=None)
    with running(config) as client:
        letter_id = dead_webhook(client, http)
        client.cookies.clear()
        del client.headers["X-CSRF-Token"]
        assert client.get("/api/dead-letters").status_code == 401
        page = client.get("/dead-letters", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert client.post(f"/api/dead-letters/{letter_id}/retry").status_code == 401
        assert client.get("/api/dead-letters/999999").status_code == 401
        login(client, "sue", role="supervisor", agency="landscaping")
        assert client.get("/dead-letters").status_code == 403
        assert client.get(f"/api/dead-letters/{letter_id}").status_code == 403
        client.cookies.clear()
        login(client, "adam", role="admin")
        assert client.get("/api/dead-letters/999999").status_code == 404
        assert client.get("/api/dead-letters?limit=0").status_code == 422

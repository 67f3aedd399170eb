"""Public means redacted (issue 16): Open311 answers, the hotline's status answer and public
notices leave without phone numbers, e-mail addresses or ID card numbers; staff still read
the original text in the inbox and the JSON API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from dispatch.core.db import transaction
from dispatch.core.runtime import get_runtime
from dispatch.hotline import service as hotline_service
from dispatch.tickets import collab
from dispatch.tickets.models import Ticket
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.tickets import make_ticket
from tests.helpers.webauth import login

PRIVATE = ("+1 555 0199", "jane.doe@example.com", "13800138000", "11010519491231002X")
REPORT = ("A large tree fell on Mill Street, call me at +1 555 0199 or jane.doe@example.com; "
          "my neighbour 13800138000, ID 11010519491231002X")


@pytest.fixture()
def client(migrated_db: str, broker_url: str, clean_state: None) -> Iterator[TestClient]:
    config = ApiConfig(dispatch=make_dispatch_config(migrated_db, broker_url, DOWN_LLM))
    with TestClient(create_app(config)) as test_client:
        login(test_client, "disa", "dispatcher")
        yield test_client


def reported(client: TestClient) -> Ticket:
    ticket_id = make_ticket(client, REPORT, address="Mill Street 12 (ring 555-0123)")
    with transaction(get_runtime().factory) as db:
        ticket = db.get(Ticket, ticket_id)
        assert ticket is not None
        collab.add_comment(db_session=db, ticket=ticket, author="sam", internal=False,
                           body="Crew booked; questions to sam.k@city.example or 515-555-0100.")
        db.expunge(ticket)
    return ticket


def assert_no_private(text: str) -> None:
    for private in (*PRIVATE, "sam.k@city.example", "515-555-0100", "555-0123"):
        assert private not in text, private


def test_open311_requests_show_no_personal_data(client: TestClient) -> None:
    ticket = reported(client)
    for fmt in ("json", "xml"):
        one = client.get(f"/open311/v2/requests/{ticket.reference}.{fmt}")
        listing = client.get(f"/open311/v2/requests.{fmt}")
        for response in (one, listing):
            assert response.status_code == 200, response.text
            assert "Mill Street" in response.text and "Crew booked" in response.text
            assert_no_private(response.text)
    body = client.get(f"/open311/v2/requests/{ticket.reference}.json").json()[0]
    assert "[phone]" in body["description"] and "[email]" in body["description"]
    assert "[id card]" in body["description"]
    assert body["status_notes"] == "Crew booked; questions to [email] or [phone]."


def test_staff_still_read_the_original(client: TestClient) -> None:
    ticket = reported(client)
    page = client.get(f"/tickets/{ticket.id}").text
    assert "jane.doe@example.com" in page and "+1 555 0199" in page
    assert "sam.k@city.example" in page
    event_id = ticket.incident.origin_event_id
    assert "jane.doe@example.com" in client.get(f"/api/events/{event_id}").json()["description"]


def test_the_hotlines_status_answer_shows_no_personal_data(client: TestClient) -> None:
    ticket = reported(client)
    rt = get_runtime()
    with transaction(rt.factory) as db:
        status = hotline_service.public_status(db_session=db, city=rt.city,
                                               reference=ticket.reference)
    assert status is not None and status.update is not None
    assert status.update == "Crew booked; questions to [email] or [phone]."
    assert_no_private(status.model_dump_json())


def test_a_public_notice_shows_no_personal_data_from_the_reports(client: TestClient) -> None:
    ticket = reported(client)
    with transaction(get_runtime().factory) as db:  # as an LLM write-up might echo the report
        row = db.get(Ticket, ticket.id)
        assert row is not None
        row.incident.title = "Tree down, caller at +1 555 0199"
        row.incident.location_phrase = "Mill Street 12, jane.doe@example.com's house"
    notice = client.post("/api/documents", json={
        "kind": "public_notice", "ticket_id": ticket.id,
        "notice": {"title": "Mill Street closed", "area": "Mill Street between 10th and 12th",
                   "effective_from": "2024-07-16", "contact": "Call 311 or 515-555-0311"}})
    assert notice.status_code == 201, notice.text
    markdown = notice.json()["markdown"]
    assert "Mill Street closed" in markdown
    assert "515-555-0311" in markdown  # what the official wrote for the public stays
    assert "+1 555 0199" not in markdown and "jane.doe@example.com" not in markdown
    report = client.post("/api/documents", json={"kind": "incident_report", "ticket_id": ticket.id})
    assert report.status_code == 201, report.text
    assert "+1 555 0199" in report.json()["markdown"]  # an internal report keeps it

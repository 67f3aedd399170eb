"""Document drafting over the JSON API: every number and date comes from the database
through the template, the LLM writes only grounded prose (or the fallback does), the
formats are safe and complete, and regenerating or editing keeps every earlier version."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from docx import Document as DocxDocument
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from agents import LLMConfig
from agents.drafter import claims_in, grounding_for
from api.app import create_app
from api.config import ApiConfig
from dispatch.core.runtime import get_runtime
from dispatch.documents.formats import md_escape
from dispatch.incidents.models import Incident
from dispatch.tickets.models import Ticket
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.tickets import make_ticket
from tests.helpers.webauth import login

CITY_ZONE = ZoneInfo("America/Chicago")
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _client(migrated_db: str, broker_url: str, llm: LLMConfig) -> Iterator[TestClient]:
    config = ApiConfig(dispatch=make_dispatch_config(migrated_db, broker_url, llm),
                       max_image_bytes=50_000)
    with TestClient(create_app(config)) as test_client:
        login(test_client, "ann", role="dispatcher")
        yield test_client


@pytest.fixture()
def client(migrated_db: str, broker_url: str, clean_state: None) -> Iterator[TestClient]:
    yield from _client(migrated_db, broker_url, DOWN_LLM)


@pytest.fixture()
def llm_client(migrated_db: str, broker_url: str, clean_state: None,
               llm_config: LLMConfig) -> Iterator[TestClient]:
    yield from _client(migrated_db, broker_url, llm_config)


def draft(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/api/documents", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def section(markdown: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n\n(.*?)(?=^## |\Z)", markdown, re.MULTILINE | re.DOTALL)
    assert match, f"no section {heading!r}"
    return match.group(1).strip()


def row(*cells: object) -> str:
    return "| " + " | ".join(md_escape(cell) for cell in cells) + " |"


def local(moment: datetime) -> str:
    return moment.astimezone(CITY_ZONE).strftime("%Y-%m-%d %H:%M")


def act(client: TestClient, ticket_id: int, action: str) -> None:
    response = client.post(f"/api/tickets/{ticket_id}/{action}", json={"actor": "ann"})
    assert response.status_code == 200, response.text


def ticket_row(ticket_id: int) -> Ticket:
    with get_runtime().factory() as db:
        ticket = db.get(Ticket, ticket_id)
        assert ticket is not None
        db.expunge(ticket)
        return ticket


def test_incident_report_shows_the_records_numbers_and_fallback_prose(client: TestClient) -> None:
    ticket_id = make_ticket(client, "A big branch fell across the sidewalk on Mill Street")
    act(client, ticket_id, "acknowledge")
    ticket = ticket_row(ticket_id)
    doc = draft(client, kind="incident_report", ticket_id=ticket_id)

    assert doc["prose"] == "fallback" and doc["model"] is None and doc["llm_error"]
    assert doc["template"]["name"] == "incident_report.md.j2"
    assert re.fullmatch(r"[0-9a-f]{12}", doc["template"]["version"])
    assert doc["inputs"]["ticket_id"] == ticket_id and doc["version"] == 1
    markdown = doc["markdown"]
    assert row("Reference", ticket.reference) in markdown
    assert row("Agency", "Bureau of Landscaping & Afforestation") in markdown
    assert row("Status", "acknowledged") in markdown
    assert row("Due by", local(ticket.sla_due_at)) in markdown
    assert row("Reports received", 1) in markdown
    history = section(markdown, "History")
    assert len(re.findall(r"^\| \d{4}-", history, re.MULTILINE)) == 2  # routed, acknowledged
    summary = section(markdown, "Summary")
    assert summary.startswith("Fallen tree reported at")
    assert md_escape(ticket.reference) in summary
    assert "Mill Street" in section(markdown, "Reports as received")

    by_incident = draft(client, kind="incident_report", incident_id=str(ticket.incident_id))
    assert row("Reference", ticket.reference) in by_incident["markdown"]


def test_daily_briefing_counts_equal_the_database(client: TestClient) -> None:
    # far apart, so that none is merged into another as a duplicate
    ids = [make_ticket(client, "A big branch fell across the sidewalk on Mill Street"),
           make_ticket(client, "A tree fell on the power lines on Oak Avenue", lat=41.60),
           make_ticket(client, "Deep pothole in the bus lane", category_hint="pothole",
                       lat=41.58),
           make_ticket(client, "Overflowing garbage bins", category_hint="exposed_garbage",
                       lat=41.56)]
    act(client, ids[0], "start")
    factory = get_runtime().factory
    with factory() as db, db.begin():
        db.execute(update(Ticket).where(Ticket.id == ids[1])
                   .values(sla_due_at=datetime.now(UTC) - timedelta(hours=5)))
        db.execute(update(Ticket).where(Ticket.id.in_(ids[2:]))
                   .values(sla_due_at=datetime.now(UTC) + timedelta(days=2)))
        incident_id = db.scalar(select(Ticket.incident_id).where(Ticket.id == ids[3]))
        db.execute(update(Incident).where(Incident.id == incident_id).values(severity="critical"))
    today = datetime.now(CITY_ZONE).date()
    doc = draft(client, kind="daily_briefing", date_from=str(today - timedelta(days=1)),
                date_to=str(today))
    markdown = doc["markdown"]
    city = get_runtime().city

    with factory() as db:
        total = db.scalar(select(func.count()).select_from(Ticket))
        by_category = db.execute(select(Ticket.category, func.count()).group_by(Ticket.category))
        by_agency = db.execute(select(Ticket.agency, func.count()).group_by(Ticket.agency))
        by_status = db.execute(select(Ticket.status, func.count()).group_by(Ticket.status))
        overdue = db.scalars(select(Ticket.reference).where(
            Ticket.sla_due_at < datetime.now(UTC), Ticket.status.not_in(["resolved", "closed"])))
        categories, agencies = list(by_category), list(by_agency)
        statuses, overdue_refs = list(by_status), list(overdue)
        critical_ref = db.scalar(select(Ticket.reference).where(Ticket.id == ids[3]))
    assert total == 4 and len(categories) == 3 and len(statuses) == 2 and overdue_refs
    assert row("Tickets opened", total) in markdown
    assert row("Incidents", total) in markdown
    for code, count in categories:
        category = city.category(code)
        assert category is not None
        assert row(category.name, count) in section(markdown, "Tickets by category")
    for agency_code, count in agencies:
        agency = city.agency(agency_code or "")
        assert agency is not None
        assert row(agency.name, count) in section(markdown, "Tickets by agency")
    for status, count in statuses:
        assert row(status, count) in section(markdown, "Tickets by status")
    overdue_section = section(markdown, "Overdue tickets")
    assert sorted(re.findall(r"^- (\S+):", overdue_section, re.MULTILINE)) == sorted(
        md_escape(ref) for ref in overdue_refs)
    assert f"| {len(overdue_refs)} |" in section(markdown, "Totals")
    assert section(markdown, "Notable incidents").startswith(f"- {md_escape(critical_ref)}:")
    assert section(markdown, "Summary").startswith(f"From {today - timedelta(days=1)} to {today}")

    empty = draft(client, kind="daily_briefing", date_from="2001-01-01", date_to="2001-01-31")
    assert row("Tickets opened", 0) in empty["markdown"]


def test_public_notice_and_work_order(client: TestClient) -> None:
    ticket_id = make_ticket(client, "Main Road is flooded knee deep near the bridge",
                            category_hint="waterlogging")
    ticket = ticket_row(ticket_id)
    notice = {"title": "Main Road closed after flooding", "area": "Main Road, Mill St to Bridge",
              "effective_from": "2024-07-16", "effective_until": "2024-07-19",
              "measures": "Detour via Oak Avenue", "contact": "311"}
    doc = draft(client, kind="public_notice", incident_id=str(ticket.incident_id), notice=notice)
    markdown = doc["markdown"]
    assert markdown.startswith("# Public notice: Main Road closed after flooding\n")
    assert section(markdown, "In effect") == "From 2024-07-16 to 2024-07-19."
    assert section(markdown, "Measures") == "Detour via Oak Avenue"
    assert section(markdown, "Situation").startswith("Following a reported waterlogging")
    assert f"Reference: {md_escape(ticket.reference)}." in markdown

    order = draft(client, kind="work_order", ticket_id=ticket_id)["markdown"]
    assert order.startswith(f"# Work order {md_escape(ticket.reference)}\n")
    assert "For: Drainage \\& Water Authority." in order
    assert row("Due by", local(ticket.sla_due_at)) in order
    assert row("Priority", ticket.priority) in order
    assert section(order, "Instructions").startswith("Go to ")


def test_validation_names_the_field_and_the_limit(client: TestClient) -> None:
    response = client.post("/api/documents", json={"kind": "press_release"})
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["detail"]] == ["kind"]
    response = client.post("/api/documents",
                           json={"kind": "incident_report", "incident_id": str(uuid.uuid4())})
    assert response.status_code == 404
    assert client.post("/api/documents",
                       json={"kind": "work_order", "ticket_id": 999_999}).status_code == 404
    start = date(2024, 7, 1)
    response = client.post("/api/documents", json={
        "kind": "daily_briefing", "date_from": str(start), "date_to": str(start + timedelta(31))})
    assert response.status_code == 422
    detail = response.json()["detail"][0]
    assert detail["field"] == "date_to" and "31 days" in detail["message"]
    response = client.post("/api/documents", json={"kind": "daily_briefing"})
    assert [d["field"] for d in response.json()["detail"]] == ["date_from"]
    ticket_id = make_ticket(client, "A big branch fell across the sidewalk on Mill Street")
    incident_id = str(ticket_row(ticket_id).incident_id)
    response = client.post("/api/documents", json={
        "kind": "public_notice", "incident_id": incident_id,
        "notice": {"title": "Closed", "area": "Mill St", "effective_from": "2024-07-16",
                   "effective_until": "2024-07-10"}})
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["detail"]] == ["notice.effective_until"]
    assert client.get("/api/documents/999999").status_code == 404


def test_html_escapes_a_citizens_script_and_docx_has_the_headings(client: TestClient) -> None:
    ticket_id = make_ticket(client, f"Tree down on Mill Street {XSS} **bold** [x](javascript:1)")
    doc = draft(client, kind="incident_report", ticket_id=ticket_id)
    html = client.get(doc["links"]["html"])
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "<script>" not in html.text and "<img" not in html.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html.text
    assert "javascript:" not in html.text.split("<main>")[1].replace("(javascript:1)", "")
    assert "<strong>" not in html.text and "<h2>Summary</h2>" in html.text

    response = client.get(doc["links"]["docx"])
    assert response.status_code == 200
    word = DocxDocument(io.BytesIO(response.content))
    headings = [p.text for p in word.paragraphs if p.style and (p.style.name or "").startswith("Heading")]
    assert headings[0].startswith("Incident report: ")
    assert headings[1:] == ["Summary", "Facts", "Ticket", "History", "Reports as received"]
    cells = {cell.text for table in word.tables for r in table.rows for cell in r.cells}
    assert ticket_row(ticket_id).reference in cells
    assert any(XSS in p.text for p in word.paragraphs)  # shown as text, verbatim

    markdown = client.get(doc["links"]["markdown"])
    assert markdown.status_code == 200 and markdown.text == doc["markdown"]


def test_regenerate_and_edit_keep_every_version(client: TestClient) -> None:
    ticket_id = make_ticket(client, "A big branch fell across the sidewalk on Mill Street")
    first = draft(client, kind="work_order", ticket_id=ticket_id)
    edited_text = first["markdown"].replace("## Instructions", "## Instructions\n\nBring a saw.")
    response = client.put(f"/api/documents/{first['id']}", json={"markdown": edited_text})
    assert response.status_code == 200, response.text
    edited = response.json()
    assert (edited["version"], edited["prose"], edited["markdown"]) == (2, "edited", edited_text)
    assert [r["reason"] for r in edited["revisions"]] == ["edit"]
    assert edited["revisions"][0]["markdown"] == first["markdown"]
    assert edited["revisions"][0]["version"] == 1 and edited["revisions"][0]["replaced_by"] == "ann"

    act(client, ticket_id, "start")
    response = client.post(f"/api/documents/{first['id']}/regenerate")
    assert response.status_code == 200, response.text
    again = response.json()
    assert again["version"] == 3 and again["prose"] == "fallback"
    assert [r["reason"] for r in again["revisions"]] == ["edit", "regenerate"]
    assert again["revisions"][1]["markdown"] == edited_text
    assert row("Status", "in_progress") in again["markdown"]
    assert client.get(f"/api/documents/{first['id']}").json() == again
    response = client.put(f"/api/documents/{first['id']}", json={"markdown": ""})
    assert response.status_code == 422
    assert client.post("/api/documents/999999/regenerate").status_code == 404


def test_staff_may_not_draft(client: TestClient) -> None:
    client.cookies.clear()
    client.headers.pop("X-CSRF-Token")
    login(client, "sam", role="staff", agency="landscaping")
    response = client.post("/api/documents", json={"kind": "daily_briefing",
                                                   "date_from": "2024-07-01",
                                                   "date_to": "2024-07-02"})
    assert response.status_code == 403


@pytest.mark.llm
def test_real_llm_prose_is_grounded_or_falls_back_with_the_error(llm_client: TestClient) -> None:
    """SmolLM2-135M sometimes answers with JSON that does not parse; then the draft must say
    so and use the deterministic prose. Whatever prose stands must be grounded in the facts."""
    ticket_id = make_ticket(llm_client, "A big branch fell across the sidewalk on Mill Street "
                                        "and blocks the way to the school")
    doc = draft(llm_client, kind="incident_report", ticket_id=ticket_id)
    if doc["prose"] == "llm":
        assert doc["model"] and doc["prompt_version"] == "draft-v1" and not doc["llm_error"]
    else:
        assert doc["prose"] == "fallback" and doc["llm_error"]
    summary = section(doc["markdown"], "Summary")
    assert summary
    facts = get_document_facts(doc["id"])
    reports = facts.pop("reports")
    grounded = grounding_for(facts, reports)
    assert claims_in(summary.replace("\\", "")) <= grounded, summary
    for dropped in doc["dropped_claims"]:
        assert not claims_in(dropped) <= grounded, dropped
    ticket = ticket_row(ticket_id)
    assert row("Reference", ticket.reference) in doc["markdown"]


def get_document_facts(document_id: int) -> dict[str, Any]:
    from dispatch.documents.models import Document

    with get_runtime().factory() as db:
        document = db.get(Document, document_id)
        assert document is not None
        return dict(document.facts)

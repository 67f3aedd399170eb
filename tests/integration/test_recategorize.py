"""A category change in the inbox (issue 14, point 5): staff of the ticket's agency,
dispatchers and admins file a ticket under another configured category; the agency and
status stay, the history records it, and the ticket's text becomes a labelled example."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from dispatch.core.runtime import get_runtime
from dispatch.incidents.models import Incident
from dispatch.learning.models import TrainingExample
from dispatch.tickets.models import Ticket


def _form(client: TestClient, ticket_id: int, category: str, note: str = "",
          token: str | None = None) -> int:
    csrf = client.headers.get("X-CSRF-Token", "") if token is None else token
    response = client.post(f"/tickets/{ticket_id}/category", follow_redirects=False,
                           data={"category": category, "note": note, "csrf_token": csrf})
    return response.status_code


def _examples() -> list[tuple[str, str | None, str | None, int | None, str]]:
    with get_runtime().factory() as db:
        rows = db.scalars(select(TrainingExample).where(TrainingExample.kind == "category")
                          .order_by(TrainingExample.id)).all()
        return [(r.label, r.wrong_label, r.category, r.ticket_id, r.actor) for r in rows]


def test_staff_of_the_agency_change_the_category_and_it_becomes_a_labelled_example(
    clients: dict[str, TestClient], tickets: dict[str, int],
) -> None:
    staff, own = clients["staff"], tickets["own"]
    page = staff.get(f"/tickets/{own}").text
    assert f'action="/tickets/{own}/category"' in page and 'value="pothole"' in page
    assert _form(staff, own, "pothole", note="it is a hole in the road, not a tree") == 303
    with get_runtime().factory() as db:
        ticket = db.get(Ticket, own)
        assert ticket is not None
        assert (ticket.category, ticket.agency, ticket.status, ticket.priority) == \
            ("pothole", "landscaping", "open", "medium")  # the agency and status stay
        incident = db.get(Incident, ticket.incident_id)
        assert incident is not None and incident.category == "pothole"
        entry = ticket.history[-1]
        assert (entry.action, entry.actor, entry.data) == (
            "recategorize", "matrix-staff", {"from_category": "fallen_tree", "to_category": "pothole"})
        assert entry.note == "category fallen_tree → pothole: it is a hole in the road, not a tree"
    assert _examples() == [("pothole", "fallen_tree", "pothole", own, "matrix-staff")]
    shown = staff.get(f"/tickets/{own}").text
    assert "recategorize" in shown and "category fallen_tree → pothole: it is a hole" in shown
    # the JSON API, for a dispatcher: the history and the example follow the same way
    done = clients["dispatcher"].post(f"/api/tickets/{own}/category",
                                      json={"category": "graffiti", "note": "paint"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["category"], body["agency"], body["history"][-1]["action"]) == \
        ("graffiti", "landscaping", "recategorize")
    assert _examples()[-1] == ("graffiti", "pothole", "graffiti", own, "matrix-dispatcher")


def test_only_those_who_see_the_ticket_may_change_it(clients: dict[str, TestClient],
                                                     tickets: dict[str, int]) -> None:
    other, triage = tickets["other"], tickets["triage"]
    for who in ("staff", "supervisor"):  # another agency's ticket, or the triage queue: unseen
        assert _form(clients[who], other, "pothole") == 404
        assert _form(clients[who], triage, "pothole") == 404
        api = clients[who].post(f"/api/tickets/{other}/category", json={"category": "pothole"})
        assert api.status_code == 404
    assert clients["anon"].post(f"/api/tickets/{other}/category",
                                json={"category": "pothole"}).status_code == 401
    assert _form(clients["anon"], other, "pothole") == 303  # to the sign-in page
    assert _examples() == []
    assert _form(clients["admin"], triage, "pothole") == 303
    assert _examples() == [("pothole", "fallen_tree", "pothole", triage, "matrix-admin")]


def test_the_category_must_be_a_configured_code(clients: dict[str, TestClient],
                                                tickets: dict[str, int]) -> None:
    staff, own = clients["staff"], tickets["own"]
    response = staff.post(f"/tickets/{own}/category", follow_redirects=False,
                          data={"category": "ghost_<b>", "csrf_token": staff.headers["X-CSRF-Token"]})
    assert response.status_code == 422
    assert "category: unknown category" in response.text and "<b>" not in response.text
    assert _form(staff, own, "") == 422
    assert _form(staff, own, "fallen_tree") == 422  # unchanged: nothing to learn
    api = clients["dispatcher"].post(f"/api/tickets/{own}/category", json={"category": "ghost"})
    assert api.status_code == 422 and "category" in api.text and "pothole" in api.text
    too_long = clients["dispatcher"].post(f"/api/tickets/{own}/category", json={"category": "x" * 65})
    assert too_long.status_code == 422 and "category" in too_long.text
    extra = clients["dispatcher"].post(f"/api/tickets/{own}/category",
                                       json={"category": "pothole", "agency": "police"})
    assert extra.status_code == 422
    with get_runtime().factory() as db:
        ticket = db.get(Ticket, own)
        assert ticket is not None and ticket.category == "fallen_tree"
        assert all(h.action != "recategorize" for h in ticket.history)
    assert _examples() == []


def test_a_category_change_needs_the_csrf_token(clients: dict[str, TestClient],
                                                tickets: dict[str, int]) -> None:
    staff, own = clients["staff"], tickets["own"]
    token = staff.headers.pop("X-CSRF-Token")  # the form's field alone must carry it
    try:
        assert _form(staff, own, "pothole", token="") == 403
        assert _form(staff, own, "pothole", token="x" * 43) == 403
        assert _form(staff, own, "pothole", token=clients["admin"].headers["X-CSRF-Token"]) == 403
        assert staff.post(f"/api/tickets/{own}/category", json={"category": "pothole"}).status_code == 403
        with get_runtime().factory() as db:
            ticket = db.get(Ticket, own)
            assert ticket is not None and ticket.category == "fallen_tree"
        assert _examples() == []
        assert _form(staff, own, "pothole", token=token) == 303  # this session's token
    finally:
        staff.headers["X-CSRF-Token"] = token
    assert _examples() == [("pothole", "fallen_tree", "pothole", own, "matrix-staff")]

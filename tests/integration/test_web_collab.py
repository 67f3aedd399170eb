"""Working a ticket together on its page: comments and internal notes (never in public
output), attachments (size limit, sniffed allow-list, safe downloads), assigning to an
active colleague of the ticket's agency (one by one and in bulk), resolving with a photo,
and the snapshot with the camera's box."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from dispatch.accounts.models import User
from dispatch.core.runtime import get_runtime
from dispatch.intake.models import Event
from dispatch.tickets.models import Ticket
from tests.helpers.pages import attach, png
from tests.helpers.webauth import ensure_user


def _post(client: TestClient, path: str, **data: Any) -> Any:
    return client.post(path, follow_redirects=False,
                       data={"csrf_token": client.headers["X-CSRF-Token"], **data})


def test_internal_notes_stay_inside(clients: dict[str, TestClient],
                                    tickets: dict[str, int]) -> None:
    staff, own = clients["staff"], tickets["own"]
    assert _post(staff, f"/tickets/{own}/comments", note="Crew booked for Tuesday").status_code == 303
    secret = "Resident is the mayor's cousin <img src=x onerror=alert(1)>"
    assert _post(staff, f"/tickets/{own}/comments", note=secret, internal="true").status_code == 303
    page = staff.get(f"/tickets/{own}").text
    assert "Crew booked for Tuesday" in page
    assert "<img src=x" not in page
    assert "Resident is the mayor&#39;s cousin &lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count("internal note</em>") == 1
    reference = re.search(r"<h1>(\S+) ·", page)
    assert reference
    public = [clients["anon"].get("/open311/v2/requests.json").text,
              clients["anon"].get(f"/open311/v2/requests/{reference.group(1)}.json").text,
              staff.get(f"/api/tickets/{own}").text]
    for text in public:
        assert "mayor" not in text
    empty = _post(staff, f"/tickets/{own}/comments", note="   ")
    assert empty.status_code == 422 and "note: a comment cannot be empty" in empty.text


def test_attachments_are_checked_and_served_as_downloads(clients: dict[str, TestClient],
                                                         tickets: dict[str, int]) -> None:
    staff, own = clients["staff"], tickets["own"]
    big = png() + b"\0" * 50_001
    too_big = attach(staff, own, "big.png", big)
    assert too_big.status_code == 422
    assert "file: the file is over the limit of 50000 bytes" in too_big.text
    html = attach(staff, own, "photo.png", b"<html><script>alert(1)</script></html>")
    assert html.status_code == 422 and "not one of the allowed types" in html.text
    name = "<img src=x onerror=alert(1)>&'Straße'.png"
    assert attach(staff, own, name, png(), "text/html").status_code == 303
    assert attach(staff, own, "../../etc/report.pdf", b"%PDF-1.4\n%%EOF\n",
                  "application/pdf").status_code == 303
    page = staff.get(f"/tickets/{own}").text
    assert "<img src=x" not in page
    escaped = "&lt;img src=x onerror=alert(1)&gt;&amp;&#39;Straße&#39;.png"
    assert escaped in page
    assert ">report.pdf</a>" in page and "etc/" not in page
    links = re.findall(rf'href="/tickets/{own}/attachments/(\d+)">([^<]*)</a>', page)
    by_name = {n: int(i) for i, n in links}
    download = staff.get(f"/tickets/{own}/attachments/{by_name['report.pdf']}")
    assert download.status_code == 200 and download.content == b"%PDF-1.4\n%%EOF\n"
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith('attachment; filename="report.pdf"')
    image = staff.get(f"/tickets/{own}/attachments/{by_name[escaped]}")
    assert image.headers["content-type"] == "image/png"  # sniffed, not the declared text/html
    assert image.headers["content-disposition"] == (
        "attachment; filename=\"<img src=x onerror=alert(1)>&'Stra_e'.png\"; "
        "filename*=UTF-8''%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%26%27Stra%C3%9Fe%27.png")


def test_assign_only_to_active_colleagues(clients: dict[str, TestClient],
                                          tickets: dict[str, int]) -> None:
    ensure_user("tree-colleague", "staff", "landscaping")
    ensure_user("bin-person", "staff", "sanitation")
    staff, own, other = clients["staff"], tickets["own"], tickets["other"]
    page = staff.get(f"/tickets/{own}").text
    assert 'value="tree-colleague"' in page and 'value="bin-person"' not in page
    assert _post(staff, f"/tickets/{own}/assign", assignee="tree-colleague").status_code == 303
    page = staff.get(f"/tickets/{own}").text
    assert '<dd id="assignee">tree-colleague</dd>' in page
    assert re.search(r"<strong>matrix-staff</strong> · assign · landscaping · to tree-colleague", page)
    wrong = _post(staff, f"/tickets/{own}/assign", assignee="bin-person")
    assert wrong.status_code == 422
    assert "assignee: &#39;bin-person&#39; is not an active colleague of &#39;landscaping&#39;" \
        in wrong.text
    with get_runtime().factory() as db, db.begin():
        db.execute(update(User).where(User.username == "tree-colleague").values(active=False))
    assert _post(staff, f"/tickets/{own}/assign", assignee="tree-colleague").status_code == 422
    assert 'value="tree-colleague"' not in staff.get(f"/tickets/{own}").text
    # in bulk: each ticket on its own; another agency's ticket is skipped, not assigned
    bulk = _post(staff, "/inbox/assign", assignee="matrix-supervisor", back="status=all",
                 ticket_id=[str(own), str(other)])
    assert bulk.headers["location"] == "/inbox?status=all&assigned=1&skipped=1"
    assert "Assigned 1 ticket(s); 1 could not be assigned." in staff.get(bulk.headers["location"]).text
    dispatcher = clients["dispatcher"]
    assert '<dd id="assignee">nobody</dd>' in dispatcher.get(f"/tickets/{other}").text
    assert '<dd id="assignee">matrix-supervisor</dd>' in dispatcher.get(f"/tickets/{own}").text
    no_one = _post(staff, "/inbox/assign", assignee="", ticket_id=[str(own)])
    assert no_one.status_code == 422 and "assignee" in no_one.text


def test_resolve_with_a_note_and_a_photo(clients: dict[str, TestClient],
                                         tickets: dict[str, int]) -> None:
    staff, own = clients["staff"], tickets["own"]
    token = staff.headers["X-CSRF-Token"]
    assert _post(staff, f"/tickets/{own}/actions/acknowledge").status_code == 303
    refused = staff.post(f"/tickets/{own}/actions/resolve", follow_redirects=False,
                         data={"csrf_token": token, "note": "done"},
                         files={"photo": ("after.png", b"GIF89a not allowed", "image/png")})
    assert refused.status_code == 422 and "photo: the file is not one of the allowed types" \
        in refused.text
    assert '<dd id="status">acknowledged</dd>' in staff.get(f"/tickets/{own}").text
    done = staff.post(f"/tickets/{own}/actions/resolve", follow_redirects=False,
                      data={"csrf_token": token, "note": "branch cut and removed"},
                      files={"photo": ("after.png", png(), "image/png")})
    assert done.status_code == 303, done.text
    page = staff.get(f"/tickets/{own}").text
    assert '<dd id="status">resolved</dd>' in page
    assert "branch cut and removed" in page
    assert re.search(r">after\.png</a> · image/png · \d+ bytes · matrix-staff · resolution photo", page)
    photo_on_start = staff.post(f"/tickets/{own}/actions/reopen", follow_redirects=False,
                                data={"csrf_token": token},
                                files={"photo": ("x.png", png(), "image/png")})
    assert photo_on_start.status_code == 422 and "only a resolution takes a photo" \
        in photo_on_start.text


def test_snapshot_shows_the_camera_box(clients: dict[str, TestClient],
                                       tickets: dict[str, int]) -> None:
    staff, own = clients["staff"], tickets["own"]
    with get_runtime().factory() as db, db.begin():
        ticket = db.get(Ticket, own)
        assert ticket is not None
        db.execute(update(Event).where(Event.id == ticket.incident.origin_event_id)
                   .values(attributes={"box": [10, 5, 40, 90]}))  # y2 beyond the 48 px image
    page = staff.get(f"/tickets/{own}").text
    assert '<svg viewBox="0 0 64 48"' in page
    assert '<rect id="snapshot-box" x="10.0" y="5.0" width="30.0" height="43.0"/>' in page
    snapshot = staff.get(f"/tickets/{own}/snapshot")
    assert snapshot.status_code == 200 and snapshot.content == png()
    assert snapshot.headers["content-type"] == "image/png"
    assert snapshot.headers["x-content-type-options"] == "nosniff"
    with get_runtime().factory() as db, db.begin():
        db.execute(update(Event).where(Event.id == ticket.incident.origin_event_id)
                   .values(attributes={"box": ["<script>", 1, 2, 3]}))
    page = staff.get(f"/tickets/{own}").text
    assert "snapshot-box" not in page and '<svg viewBox="0 0 64 48"' in page
    with get_runtime().factory() as db, db.begin():  # a 1920x1440 camera, its snapshot shrunk to 64x48
        db.execute(update(Event).where(Event.id == ticket.incident.origin_event_id)
                   .values(attributes={"box": [300, 150, 1200, 600], "frame": [1920, 1440]}))
    page = staff.get(f"/tickets/{own}").text
    assert '<rect id="snapshot-box" x="10.0" y="5.0" width="30.0" height="15.0"/>' in page

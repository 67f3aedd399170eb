"""Every route with every role: staff and supervisors see and change only their own agency's
tickets (pages, partials and the JSON API); dispatchers and admins see all and the triage
queue; strangers are sent to the sign-in page (pages) or refused (JSON). Citizen and LLM text
is rendered escaped, and sign-in is throttled and protected against CSRF."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from dispatch.core.runtime import get_runtime
from dispatch.tickets.models import Ticket
from tests.helpers.pages import XSS, assert_only_vendored_scripts, png
from tests.helpers.tickets import make_ticket
from tests.helpers.webauth import PASSWORD, ROLES, csrf_of, ensure_user

WHO = ("anon", *ROLES)


def _expect(anon: int, staff: int, supervisor: int, dispatcher: int, admin: int) -> dict[str, int]:
    return dict(zip(WHO, (anon, staff, supervisor, dispatcher, admin), strict=True))


# (method, path template, body kind, body, expected status per role)
MATRIX: list[tuple[str, str, str | None, dict[str, Any] | None, dict[str, int]]] = [
    ("GET", "/inbox", None, None, _expect(303, 200, 200, 200, 200)),
    ("GET", "/inbox?status=triage", None, None, _expect(303, 403, 403, 200, 200)),
    ("GET", "/inbox?agency=sanitation", None, None, _expect(303, 403, 403, 200, 200)),
    ("GET", "/inbox?agency=landscaping&sla=on_time&q=branch", None, None,
     _expect(303, 200, 200, 200, 200)),
    ("GET", "/inbox/rows?cursor=1000", None, None, _expect(303, 200, 200, 200, 200)),
    ("GET", "/inbox/new?since=0", None, None, _expect(303, 200, 200, 200, 200)),
    ("GET", "/tickets/{own}", None, None, _expect(303, 200, 200, 200, 200)),
    ("GET", "/tickets/{other}", None, None, _expect(303, 404, 404, 200, 200)),
    ("GET", "/tickets/{triage}", None, None, _expect(303, 404, 404, 200, 200)),
    ("POST", "/tickets/{own}/actions/close", "form", {}, _expect(303, 403, 409, 409, 409)),
    # the dispatcher acts first; the admin then finds the ticket already moved
    ("POST", "/tickets/{other}/actions/acknowledge", "form", {}, _expect(303, 404, 404, 303, 409)),
    ("POST", "/tickets/{own}/actions/reassign", "form", {"agency": "ghostbusters"},
     _expect(303, 403, 403, 422, 422)),
    ("POST", "/tickets/{triage}/comments", "form", {"note": "n"}, _expect(303, 404, 404, 303, 303)),
    ("POST", "/tickets/{own}/comments", "form", {"note": "n"}, _expect(303, 303, 303, 303, 303)),
    ("GET", "/api/tickets", None, None, _expect(401, 200, 200, 200, 200)),
    ("GET", "/api/tickets?agency=sanitation", None, None, _expect(401, 403, 403, 200, 200)),
    ("GET", "/api/tickets/{own}", None, None, _expect(401, 200, 200, 200, 200)),
    ("GET", "/api/tickets/{other}", None, None, _expect(401, 404, 404, 200, 200)),
    ("GET", "/api/tickets/{triage}", None, None, _expect(401, 404, 404, 200, 200)),
    ("POST", "/api/tickets/{own}/close", "json", {"actor": "a"}, _expect(401, 403, 409, 409, 409)),
    ("POST", "/api/tickets/{other}/start", "json", {"actor": "a"},
     _expect(401, 404, 404, 200, 409)),
    ("POST", "/api/tickets/{own}/reassign", "json", {"actor": "a", "agency": "ghostbusters"},
     _expect(401, 403, 403, 422, 422)),
    ("GET", "/health", None, None, _expect(200, 200, 200, 200, 200)),
    ("GET", "/login", None, None, _expect(200, 303, 303, 303, 303)),
    ("GET", "/static/htmx-2.0.11.min.js", None, None, _expect(200, 200, 200, 200, 200)),
    ("GET", "/static/leaflet-1.9.4.js", None, None, _expect(200, 200, 200, 200, 200)),
    ("GET", "/static/chart-4.5.1.umd.min.js", None, None, _expect(200, 200, 200, 200, 200)),
    # the ticket's extras: snapshot, attachments, internal notes, assigning
    ("GET", "/tickets/{own}/snapshot", None, None, _expect(303, 200, 200, 200, 200)),
    ("GET", "/tickets/{other}/snapshot", None, None, _expect(303, 404, 404, 404, 404)),
    ("GET", "/tickets/{own}/attachments/{own_file}", None, None, _expect(303, 200, 200, 200, 200)),
    ("GET", "/tickets/{other}/attachments/{other_file}", None, None,
     _expect(303, 404, 404, 200, 200)),
    ("GET", "/tickets/{own}/attachments/{other_file}", None, None,
     _expect(303, 404, 404, 404, 404)),
    ("POST", "/tickets/{own}/attachments", "file", None, _expect(303, 303, 303, 303, 303)),
    ("POST", "/tickets/{other}/attachments", "file", None, _expect(303, 404, 404, 303, 303)),
    ("POST", "/tickets/{other}/comments", "form", {"note": "n", "internal": "true"},
     _expect(303, 404, 404, 303, 303)),
    ("POST", "/tickets/{own}/assign", "form", {"assignee": "matrix-staff"},
     _expect(303, 303, 303, 303, 303)),
    ("POST", "/tickets/{other}/assign", "form", {"assignee": "matrix-staff"},
     _expect(303, 404, 404, 422, 422)),
    ("POST", "/tickets/{triage}/assign", "form", {"assignee": "matrix-staff"},
     _expect(303, 404, 404, 422, 422)),
    ("POST", "/inbox/assign", "form", {"assignee": "matrix-staff", "ticket_id": "{own}"},
     _expect(303, 303, 303, 303, 303)),
    # the dashboard and the CSV export
    ("GET", "/dashboard", None, None, _expect(303, 200, 200, 200, 200)),
    ("GET", "/dashboard?agency=sanitation", None, None, _expect(303, 403, 403, 200, 200)),
    ("GET", "/dashboard?category=fallen_tree&district=zzz", None, None,
     _expect(303, 200, 200, 200, 200)),
    ("GET", "/tickets.csv?status=all", None, None, _expect(303, 200, 200, 200, 200)),
    ("GET", "/tickets.csv?agency=sanitation", None, None, _expect(303, 403, 403, 200, 200)),
    ("GET", "/tickets.csv?status=triage", None, None, _expect(303, 403, 403, 200, 200)),
]


def _call(client: TestClient, method: str, path: str, kind: str | None,
          body: dict[str, Any] | None) -> Any:
    if kind == "form":
        token = client.headers.get("X-CSRF-Token", "")
        return client.post(path, data={**(body or {}), "csrf_token": token},
                           follow_redirects=False)
    if kind == "json":
        return client.post(path, json=body, follow_redirects=False)
    if kind == "file":
        return client.post(path, data={"csrf_token": client.headers.get("X-CSRF-Token", "")},
                           files={"file": ("matrix.png", png(), "image/png")},
                           follow_redirects=False)
    return client.request(method, path, follow_redirects=False)


def test_every_route_with_every_role(clients: dict[str, TestClient],
                                     tickets: dict[str, int]) -> None:
    seen: list[str] = []
    for method, template, kind, body, expected in MATRIX:
        path = template.format(**tickets)
        filled = {k: v.format(**tickets) for k, v in (body or {}).items()}
        for who in WHO:
            response = _call(clients[who], method, path, kind, filled if body else body)
            if response.status_code != expected[who]:
                seen.append(f"{method} {path} as {who}: {response.status_code}, "
                            f"expected {expected[who]}: {response.text[:200]}")
    assert not seen, "\n".join(seen)
    # a stranger's page request goes to the sign-in page and comes back afterwards
    response = clients["anon"].get(f"/tickets/{tickets['own']}", follow_redirects=False)
    assert response.headers["location"] == f"/login?next=/tickets/{tickets['own']}"
    partial = clients["anon"].get("/inbox/rows", headers={"HX-Request": "true"})
    assert partial.status_code == 401 and partial.headers["HX-Redirect"].startswith("/login")


def test_staff_lists_only_their_agency(clients: dict[str, TestClient],
                                       tickets: dict[str, int]) -> None:
    for who in ("staff", "supervisor"):
        listed = clients[who].get("/api/tickets").json()["items"]
        assert [t["id"] for t in listed] == [tickets["own"]]
        page = clients[who].get("/inbox?status=all").text
        assert f'/tickets/{tickets["own"]}"' in page
        assert f'/tickets/{tickets["other"]}"' not in page
        assert f'/tickets/{tickets["triage"]}"' not in page
        assert f'/tickets/{tickets["other"]}"' not in clients[who].get("/inbox/new?since=0").text
    everything = {t["id"] for t in clients["dispatcher"].get("/api/tickets").json()["items"]}
    assert everything == set(tickets.values())
    triage = clients["dispatcher"].get("/inbox?status=triage").text
    assert f'/tickets/{tickets["triage"]}"' in triage and f'/tickets/{tickets["own"]}"' not in triage


def test_staff_bulk_acknowledge_skips_other_agencies(clients: dict[str, TestClient],
                                                     tickets: dict[str, int]) -> None:
    staff = clients["staff"]
    response = staff.post("/inbox/acknowledge", follow_redirects=False, data={
        "csrf_token": staff.headers["X-CSRF-Token"], "back": "status=all&evil=1",
        "ticket_id": [str(tickets["own"]), str(tickets["other"]), str(tickets["triage"])]})
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox?status=all&acknowledged=1&skipped=2"
    dispatcher = clients["dispatcher"]
    assert dispatcher.get(f"/api/tickets/{tickets['own']}").json()["status"] == "acknowledged"
    assert dispatcher.get(f"/api/tickets/{tickets['other']}").json()["status"] == "open"
    history = dispatcher.get(f"/api/tickets/{tickets['own']}").json()["history"]
    assert history[-1]["actor"] == "matrix-staff"
    assert "Acknowledged 1 ticket(s); 2 could not" in staff.get(response.headers["location"]).text


def test_posts_need_the_csrf_token(clients: dict[str, TestClient],
                                   tickets: dict[str, int]) -> None:
    dispatcher = clients["dispatcher"]
    token = dispatcher.headers.pop("X-CSRF-Token")
    own = tickets["own"]
    assert dispatcher.post(f"/api/tickets/{own}/acknowledge",
                           json={"actor": "a"}).status_code == 403
    assert dispatcher.post(f"/tickets/{own}/actions/acknowledge", data={},
                           follow_redirects=False).status_code == 403
    assert dispatcher.post(f"/tickets/{own}/actions/acknowledge", data={"csrf_token": "x" * 43},
                           follow_redirects=False).status_code == 403
    assert dispatcher.post("/logout", follow_redirects=False).status_code == 403
    dispatcher.headers["X-CSRF-Token"] = token
    assert dispatcher.get(f"/api/tickets/{own}").json()["status"] == "open"
    # another user's token is not this session's token
    other = clients["admin"].headers["X-CSRF-Token"]
    assert dispatcher.post(f"/api/tickets/{own}/acknowledge", json={"actor": "a"},
                           headers={"X-CSRF-Token": other}).status_code == 403


def test_logout_ends_the_session(clients: dict[str, TestClient]) -> None:
    admin = clients["admin"]
    cookie = admin.cookies.get("cityloop_session")
    response = admin.post("/logout", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                          follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert admin.get("/api/tickets").status_code == 401
    # the old cookie, replayed, is dead too
    replay = TestClient(admin.app, cookies={"cityloop_session": cookie})
    assert replay.get("/api/tickets").status_code == 401


def test_session_cookie_flags(app_config: ApiConfig) -> None:
    for public_url, secure in (("http://127.0.0.1:8000", False), ("https://city.example", True)):
        config = app_config.model_copy(update={"public_url": public_url})
        base = "https://testserver" if secure else "http://testserver"
        with TestClient(create_app(config), base_url=base) as client:
            ensure_user("cookie-check", "dispatcher")
            form = client.get("/login")
            response = client.post("/login", follow_redirects=False, data={
                "username": "cookie-check", "password": PASSWORD, "csrf_token": csrf_of(form.text)})
            assert response.status_code == 303
            header = response.headers["set-cookie"].lower()
            assert "cityloop_session=" in header and "httponly" in header
            assert "samesite=lax" in header
            assert ("secure" in header) is secure


def test_login_is_throttled_and_needs_its_form_token(app_config: ApiConfig) -> None:
    with TestClient(create_app(app_config)) as client:
        ensure_user("throttled", "staff", "landscaping")
        no_token = client.post("/login", data={"username": "throttled", "password": PASSWORD})
        assert no_token.status_code == 403
        for _ in range(5):
            form = client.get("/login")
            wrong = client.post("/login", data={"username": "throttled", "password": "nope-nope-1",
                                                "csrf_token": csrf_of(form.text)})
            assert wrong.status_code == 401
            assert "Wrong username or password" in wrong.text
        form = client.get("/login")
        response = client.post("/login", follow_redirects=False, data={
            "username": "throttled", "password": PASSWORD, "csrf_token": csrf_of(form.text)})
        assert response.status_code == 429  # even the right password, until the window ends
        assert int(response.headers["Retry-After"]) > 0
        assert "cityloop_session" not in response.headers.get("set-cookie", "")


def test_login_redirects_only_to_this_site(app_config: ApiConfig) -> None:
    with TestClient(create_app(app_config)) as client:
        ensure_user("nexter", "dispatcher")
        for target, landing in (("/tickets/1", "/tickets/1"), ("//evil.example/x", "/inbox"),
                                ("https://evil.example", "/inbox")):
            client.cookies.clear()
            form = client.get("/login")
            response = client.post("/login", follow_redirects=False, data={
                "username": "nexter", "password": PASSWORD, "csrf_token": csrf_of(form.text),
                "next": target})
            assert response.headers["location"] == landing


def test_citizen_text_is_rendered_escaped(clients: dict[str, TestClient]) -> None:
    ticket_id = make_ticket(clients["anon"], XSS)
    staff = clients["staff"]
    staff.post(f"/tickets/{ticket_id}/comments", follow_redirects=False,
               data={"csrf_token": staff.headers["X-CSRF-Token"], "note": "<b onmouseover=x>hi</b>"})
    pages = {"inbox": staff.get("/inbox").text, "ticket": staff.get(f"/tickets/{ticket_id}").text,
             "new": staff.get("/inbox/new?since=0").text}
    for name, html in pages.items():
        assert "<script>alert" not in html, name
        assert "<img src=x" not in html, name
        assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html, name
    assert "<b onmouseover" not in pages["ticket"]
    assert "&lt;b onmouseover=x&gt;hi&lt;/b&gt;" in pages["ticket"]
    assert_only_vendored_scripts(pages["ticket"])


def test_search_reads_title_description_and_reference(clients: dict[str, TestClient],
                                                       tickets: dict[str, int]) -> None:
    staff, own = clients["staff"], tickets["own"]

    def found(q: str) -> bool:
        return f'/tickets/{own}"' in staff.get("/inbox", params={"q": q}).text

    assert found("branch sidewalk") and found("fallen tree") and not found("bicycle")
    with get_runtime().factory() as db, db.begin():
        ticket = db.get(Ticket, own)
        assert ticket is not None
        reference = ticket.reference
        ticket.incident.description = "A bicycle rack was bent by the falling limb"
    assert found("bicycle rack") and not found("sidewalk")  # follows the incident's text
    assert found(reference)


def test_a_ticket_reassigned_to_the_agency_appears_in_its_live_refresh(
        clients: dict[str, TestClient], tickets: dict[str, int]) -> None:
    """A reassigned or rerouted ticket keeps its old id: polling by id alone never showed it."""
    staff, dispatcher = clients["staff"], clients["dispatcher"]
    page = staff.get("/inbox").text
    poll = re.search(r'<div id="new-tickets" hx-get="([^"]+)"', page)
    assert poll is not None
    url = poll.group(1).replace("&amp;", "&")
    assert "seen=" in url  # the page's database snapshot
    assert f'/tickets/{tickets["other"]}"' not in staff.get(url).text  # sanitation's, for now
    moved = dispatcher.post(f"/api/tickets/{tickets['other']}/reassign",
                            json={"actor": "x", "agency": "landscaping", "note": "ours after all"})
    assert moved.status_code == 200, moved.text
    assert f'/tickets/{tickets["other"]}"' in staff.get(url).text
    for bad_seen in ("2026-01-01T00:00:00", "9:5:", "5:9:10", "5:9:7,6"):
        bad = staff.get("/inbox/new", params={"seen": bad_seen})
        assert bad.status_code == 422 and "seen" in bad.text, bad_seen

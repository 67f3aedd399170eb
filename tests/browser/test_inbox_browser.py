"""The inbox in a real browser (Debian's Chromium driven by Playwright): sign in, filter,
open a ticket, comment on it, assign it to a colleague, acknowledge it, resolve it with a
note and a photo, see it leave the open inbox, and open the dashboard (map and chart).

Needs ``apt-get install -y chromium`` and ``pip install playwright`` (no ``playwright
install``: the system Chromium is used). Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.config import ApiConfig
from cityloop.localservices import free_port
from dispatch.core.runtime import get_runtime
from dispatch.incidents import flows as incident_flows
from dispatch.tickets import flows as ticket_flows
from tests.helpers.config import ARTIFACTS, DOWN_LLM, make_dispatch_config
from tests.helpers.pages import png
from tests.helpers.webauth import PASSWORD, ensure_user

CHROMIUM = Path("/usr/bin/chromium")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install -y chromium)")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SHOTS = ARTIFACTS / "browser"
POPUP_XSS = "<b>River Rd</b><img src=x onerror=\"document.title='pwned'\">"
NOON = "2024-07-15T12:00:00-05:00"


@pytest.fixture()
def server(migrated_db: str, broker_url: str, clean_state: None) -> Iterator[str]:
    import uvicorn

    port = free_port()
    config = ApiConfig(dispatch=make_dispatch_config(migrated_db, broker_url, DOWN_LLM),
                       public_url=f"http://127.0.0.1:{port}")
    uv = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port,
                                       log_level="warning", lifespan="on"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=15)


def make_ticket(base: str, description: str, lat: float, lon: float,
                category: str = "fallen_tree", address: str | None = None) -> int:
    """Post an event to the live server, then understand and route it as a worker would."""
    response = httpx.post(f"{base}/api/events", timeout=10, json={
        "source": "hotline", "description": description, "category_hint": category,
        "lat": lat, "lon": lon, "occurred_at": NOON, "address": address})
    assert response.status_code == 202, response.text
    rt = get_runtime()
    incident_id = incident_flows.understand_event(factory=rt.factory, city=rt.city, chat=None,
                                         event_id=uuid.UUID(response.json()["id"]))
    assert incident_id is not None
    routed = ticket_flows.route_incident(factory=rt.factory, city=rt.city, chat=None,
                                  incident_id=incident_id)
    assert routed is not None
    return routed[0]


def test_staff_works_a_ticket_in_the_browser(server: str) -> None:
    ensure_user("browser-staff", "staff", "landscaping")
    ensure_user("browser-colleague", "staff", "landscaping")
    # places far apart, so that no ticket is merged into another as a duplicate
    branch = make_ticket(server, "A big branch fell across the sidewalk on Mill Street",
                         41.62, -93.65)
    oak = make_ticket(server, "An old oak tree fell onto a parked car near the river",
                      41.63, -93.66, address=POPUP_XSS)
    garbage = make_ticket(server, "Garbage bags dumped by the bus stop", 41.61, -93.64,
                          "exposed_garbage")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            blocked: list[str] = []  # what the Content-Security-Policy stopped (must be nothing)
            page.on("console", lambda msg: blocked.append(msg.text)
                    if "Content Security Policy" in msg.text else None)
            page.goto(f"{server}/inbox")
            assert "/login" in page.url
            page.screenshot(path=str(SHOTS / "1-login.png"), full_page=True)
            page.get_by_label("Username").fill("browser-staff")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{server}/inbox")
            rows = page.locator("#rows tr[data-ticket]")
            sync_api.expect(rows).to_have_count(2)  # both trees; the garbage is not ours
            assert page.locator(f'tr[data-ticket="{garbage}"]').count() == 0
            page.screenshot(path=str(SHOTS / "2-inbox.png"), full_page=True)

            page.get_by_label("Search").fill("sidewalk")
            page.get_by_label("Search").press("Enter")
            sync_api.expect(rows).to_have_count(1)  # swapped in by htmx
            sync_api.expect(page.locator(f'tr[data-ticket="{oak}"]')).to_have_count(0)
            page.screenshot(path=str(SHOTS / "3-filtered.png"), full_page=True)

            page.locator(f'tr[data-ticket="{branch}"] a').click()
            page.wait_for_url(f"{server}/tickets/{branch}")
            sync_api.expect(page.locator("#status")).to_have_text("open")
            page.screenshot(path=str(SHOTS / "4-ticket.png"), full_page=True)

            sync_api.expect(page.locator("#map[data-ready='1']")).to_have_count(1)  # the pin

            page.get_by_label("comment").fill("Saw cat stuck <i>under</i> it")
            page.get_by_role("button", name="Add comment").click()
            sync_api.expect(page.locator(".comments")).to_contain_text("Saw cat stuck <i>under</i> it")
            page.get_by_label("assign to").select_option("browser-colleague")
            page.get_by_role("button", name="Assign", exact=True).click()
            sync_api.expect(page.locator("#assignee")).to_have_text("browser-colleague")
            page.screenshot(path=str(SHOTS / "5-commented-assigned.png"), full_page=True)

            page.get_by_label("note for acknowledge").fill("crew on the way")
            page.get_by_role("button", name="Acknowledge", exact=True).click()
            sync_api.expect(page.locator("#status")).to_have_text("acknowledged")
            page.get_by_label("note for resolve").fill("branch cleared")
            page.get_by_label("photo for resolve").set_input_files(
                files=[{"name": "after.png", "mimeType": "image/png", "buffer": png()}])
            page.get_by_role("button", name="Resolve", exact=True).click()
            sync_api.expect(page.locator("#status")).to_have_text("resolved")
            sync_api.expect(page.locator(".timeline")).to_contain_text("branch cleared")
            sync_api.expect(page.locator(".timeline")).to_contain_text("browser-staff")
            sync_api.expect(page.locator(".attachments")).to_contain_text("after.png")
            sync_api.expect(page.locator(".attachments")).to_contain_text("resolution photo")
            page.screenshot(path=str(SHOTS / "6-resolved.png"), full_page=True)

            page.get_by_role("link", name="Inbox", exact=True).click()
            page.wait_for_url(f"{server}/inbox")
            sync_api.expect(rows).to_have_count(1)
            assert page.locator(f'tr[data-ticket="{branch}"]').count() == 0
            assert page.locator(f'tr[data-ticket="{oak}"]').count() == 1
            page.screenshot(path=str(SHOTS / "7-inbox-after.png"), full_page=True)

            page.get_by_role("link", name="Dashboard", exact=True).click()
            page.wait_for_url(f"{server}/dashboard")
            sync_api.expect(page.locator("#trend[data-ready='true']")).to_have_count(1)
            sync_api.expect(page.locator("#map[data-ready='1']")).to_have_count(1)  # the oak only
            sync_api.expect(page.locator("#compliance")).to_have_text("100%")  # the locale's format
            page.locator("#map path.leaflet-interactive[stroke='#b00020']").click()
            popup = page.locator(".leaflet-popup-content")
            sync_api.expect(popup).to_contain_text(POPUP_XSS)  # shown as text, not markup
            assert popup.locator("img, b").count() == 0
            assert page.title() != "pwned"
            page.screenshot(path=str(SHOTS / "8-dashboard.png"), full_page=True)
            page.get_by_role("link", name="Inbox", exact=True).click()
            page.wait_for_url(f"{server}/inbox")

            fresh = make_ticket(server, "A tree fell on the footbridge railing", 41.615, -93.67)
            banner = page.locator(".new-tickets")  # the 10-second poll brings it in
            sync_api.expect(banner).to_contain_text("1 new ticket", timeout=25_000)
            sync_api.expect(banner.locator(f'tr[data-ticket="{fresh}"]')).to_have_count(1)
            page.screenshot(path=str(SHOTS / "9-new-ticket.png"), full_page=True)

            page.goto(f"{server}/hotline")  # its script is a file of ours too
            sync_api.expect(page.locator("#chat")).to_have_count(1)
            assert page.evaluate("document.getElementById('log').children.length") == 0
            assert blocked == [], blocked
        finally:
            browser.close()

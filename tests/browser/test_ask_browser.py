"""Ask the city in a real browser (Debian's Chromium driven by Playwright): from the inbox's
"Ask" link, a question in English becomes chips, a list, a map with the schools drawn and a
chart; "show similar" fills its panel; removing a chip widens the answer; a Chinese question
gives the same; another agency's tickets never show, and the page runs no inline script.

Needs ``apt-get install -y chromium`` and ``pip install playwright``. Screenshots go to
``test-artifacts/browser/``.
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
from tests.helpers.webauth import PASSWORD, ensure_user

CHROMIUM = Path("/usr/bin/chromium")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install -y chromium)")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SHOTS = ARTIFACTS / "browser"


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


def make_ticket(base: str, description: str, lat: float, lon: float, category: str) -> int:
    """Post an event to the live server, then understand (with its embedding) and route it."""
    response = httpx.post(f"{base}/api/events", timeout=10, json={
        "source": "hotline", "description": description, "category_hint": category,
        "lat": lat, "lon": lon})
    assert response.status_code == 202, response.text
    rt = get_runtime()
    incident_id = incident_flows.understand_event(
        factory=rt.factory, city=rt.city, chat=None, embedder=rt.embedder,
        event_id=uuid.UUID(response.json()["id"]))
    assert incident_id is not None
    routed = ticket_flows.route_incident(factory=rt.factory, city=rt.city, chat=None,
                                         incident_id=incident_id)
    assert routed is not None
    return routed[0]


def test_staff_ask_the_city_in_the_browser(server: str) -> None:
    ensure_user("ask-staff", "staff", "landscaping")
    # beside Lincoln Elementary (41.620, -93.650): two trees and a garbage report
    branch = make_ticket(server, "A big branch fell across the sidewalk by the school gate",
                         41.6203, -93.6502, "fallen_tree")
    limb = make_ticket(server, "A broken limb of a maple is hanging over the schoolyard fence",
                       41.6196, -93.6507, "fallen_tree")
    garbage = make_ticket(server, "Garbage bags dumped on the sidewalk by the school",
                          41.6199, -93.6496, "exposed_garbage")
    far = make_ticket(server, "An old oak tree fell onto a parked car on Quarry Road",
                      41.6450, -93.6900, "fallen_tree")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            blocked: list[str] = []
            page.on("console", lambda m: blocked.append(m.text)
                    if "Content Security Policy" in m.text else None)
            page.on("pageerror", lambda error: blocked.append(str(error)))
            page.goto(f"{server}/login?next=/inbox")
            page.get_by_label("Username").fill("ask-staff")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{server}/inbox")
            page.get_by_role("link", name="Ask", exact=True).click()
            page.wait_for_url(f"{server}/ask")
            page.screenshot(path=str(SHOTS / "ask-1-empty.png"), full_page=True)

            page.get_by_label("Question").fill("fallen trees near schools this week")
            page.get_by_label("Question").press("Enter")
            rows = page.locator("#ask-results tbody tr[data-ticket]")
            sync_api.expect(rows).to_have_count(2)  # the two trees; not the oak, not the garbage
            for ticket in (far, garbage):
                assert page.locator(f'tr[data-ticket="{ticket}"]').count() == 0
            chips = page.locator("#chips .chip")
            sync_api.expect(chips).to_have_count(3)  # category, near, since
            sync_api.expect(page.locator("#explanation")).to_contain_text("300 m of Schools")
            assert blocked == []
            sync_api.expect(page.locator("#ask-map[data-ready='2'][data-layer='Schools']")).to_have_count(1)
            sync_api.expect(page.locator("#ask-chart[data-ready='true']")).to_have_count(1)
            page.screenshot(path=str(SHOTS / "ask-2-answer.png"), full_page=True)

            page.locator(f'tr[data-ticket="{branch}"] button.similar').click()
            similar = page.locator("#similar tr[data-similar]")
            sync_api.expect(similar.first).to_be_visible()
            shown = {int(s) for s in similar.evaluate_all("rows => rows.map(r => r.dataset.similar)")}
            assert shown == {limb, far}  # the staff member's own agency only, never the garbage
            page.screenshot(path=str(SHOTS / "ask-3-similar.png"), full_page=True)

            with page.expect_navigation():
                page.get_by_role("button", name="remove near").click()
            sync_api.expect(rows).to_have_count(3)  # the oak joins
            sync_api.expect(chips).to_have_count(2)
            page.screenshot(path=str(SHOTS / "ask-4-chip-removed.png"), full_page=True)

            page.get_by_label("Question").fill("本周学校附近的倒伏树木")
            page.get_by_label("Question").press("Enter")
            sync_api.expect(rows).to_have_count(2)
            sync_api.expect(page.locator("#explanation")).to_contain_text("学校300米内")
            page.screenshot(path=str(SHOTS / "ask-5-chinese.png"), full_page=True)
            assert blocked == []
        finally:
            browser.close()

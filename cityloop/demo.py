"""Sample events for the sample city, so a newcomer sees tickets flow within a minute."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import httpx

from dispatch.accounts import users
from dispatch.city.config import CityConfig
from dispatch.core.db import make_engine, make_session_factory

SAMPLE_EVENTS: list[dict[str, object]] = [
    {"source": "hotline", "description": "A large oak tree fell across Elm Street after last "
     "night's storm and is blocking both lanes.", "lat": 41.625, "lon": -93.655},
    {"source": "camera", "description": "Camera 12 sees five shared bicycles knocked over on the "
     "sidewalk outside the Riverside library.", "lat": 41.575, "lon": -93.545,
     "category_hint": "fallen_bicycle"},
    {"source": "open311", "description": "Garbage bags piled up next to the bus stop on Market "
     "Street, they have been there since Monday.", "address": "Market Street, Old Town"},
    {"source": "hotline", "description": "The underpass on River Road is flooded, cars are "
     "getting stuck in the standing water.", "lat": 41.58, "lon": -93.52},
    {"source": "web", "description": "Deep pothole in the right lane of 5th Avenue near the "
     "school, a cyclist almost fell.", "lat": 41.61, "lon": -93.58},
    {"source": "hotline", "description": "Someone spray-painted graffiti all over the wall of "
     "the community centre.", "address": "East Heights community centre"},
    {"source": "web", "description": "The street light at the corner of Pine and 3rd has been "
     "out for a week, the corner is completely dark.", "lat": 41.62, "lon": -93.68},
    {"source": "hotline", "description": "There is a strange smell coming from the fountain in "
     "the square, not sure who to call."},
]


DEMO_PASSWORD = "riverton-demo"  # demo mode only; printed so a newcomer can sign in
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def demo_accounts(city: CityConfig) -> list[tuple[str, str, str | None]]:
    """(username, role, agency): a dispatcher and one staff account per agency."""
    return [("dispatcher", "dispatcher", None)] + [
        (f"{a.code.replace('_', '-')}-staff", "staff", a.code) for a in city.agencies]


def create_demo_accounts(database_url: str, city: CityConfig) -> list[tuple[str, str, str | None]]:
    """Create the demo accounts once (only ``cityloop up --demo`` calls this)."""
    engine = make_engine(database_url, pool_size=1)
    accounts = demo_accounts(city)
    with make_session_factory(engine)() as db, db.begin():
        for username, role, agency in accounts:
            if users.get_by_username(db_session=db, username=username) is None:
                users.add_user(db_session=db, username=username, password=DEMO_PASSWORD,
                               role=role, agency=agency, city=city)
    engine.dispose()
    return accounts


def sign_in(client: httpx.Client, username: str) -> None:
    """Sign ``client`` in as the demo account ``username`` (its cookie stays on the client)."""
    form = client.get("/login")
    form.raise_for_status()
    match = CSRF_FIELD.search(form.text)
    if match is None:
        raise RuntimeError("the login page has no CSRF field")
    reply = client.post("/login", data={"username": username, "password": DEMO_PASSWORD,
                                        "csrf_token": match.group(1)})
    if reply.status_code >= 400:
        raise RuntimeError(f"demo sign-in failed: HTTP {reply.status_code}")


def _post_samples(client: httpx.Client) -> list[str]:
    ids = []
    for i, event in enumerate(SAMPLE_EVENTS):
        body = {**event, "external_id": f"demo-{i}",
                "occurred_at": (datetime.now(UTC) - timedelta(minutes=5 * i)).isoformat()}
        reply = client.post("/api/events", json=body)
        reply.raise_for_status()
        ids.append(reply.json()["id"])
    return ids


def _print_ticket(client: httpx.Client, ticket_id: int) -> None:
    ticket = client.get(f"/api/tickets/{ticket_id}").json()
    print(f"  ticket {ticket['reference']}  {ticket['agency'] or 'TRIAGE':15} "
          f"{ticket['category']:16} {ticket['title'][:60]}  "
          f"({ticket['routing'].get('reason', '')})", flush=True)


def run_demo(base_url: str, *, wait_s: float = 300.0,
             accounts: list[tuple[str, str, str | None]] | None = None) -> int:
    """Post the sample events, then print each ticket as it appears."""
    base = base_url.rstrip("/")
    with httpx.Client(base_url=base, timeout=10.0, follow_redirects=False) as client:
        ids = _post_samples(client)
        print(f"demo: posted {len(ids)} sample events; waiting for their tickets…", flush=True)
        sign_in(client, "dispatcher")
        seen: set[str] = set()
        deadline = time.monotonic() + wait_s
        while len(seen) < len(ids) and time.monotonic() < deadline:
            for event_id in ids:
                if event_id in seen:
                    continue
                ticket_id = client.get(f"/api/events/{event_id}").json().get("ticket_id")
                if ticket_id:
                    seen.add(event_id)
                    _print_ticket(client, ticket_id)
            time.sleep(1.0)
    print(f"demo: {len(seen)}/{len(ids)} tickets created; inbox at {base}/inbox", flush=True)
    if accounts:
        names = ", ".join(name for name, _, _ in accounts)
        print(f"demo: sign in as any of [{names}] with the password {DEMO_PASSWORD!r}", flush=True)
    return 0 if len(seen) == len(ids) else 1

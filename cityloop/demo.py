"""Sample events for the sample city, so a newcomer sees tickets flow within a minute."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from dispatch.accounts import users
from dispatch.city.config import CityConfig
from dispatch.core.db import make_engine, make_session_factory

KB_DIR = Path(__file__).resolve().parent / "kb"

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

# 江城市 (cityloop/cities/jiangcheng.yaml): what a 12345 centre hears on an ordinary day.
SAMPLE_EVENTS_ZH: list[dict[str, object]] = [
    {"source": "hotline", "description": "解放路和江汉路路口有一棵大树倒了，横在马路上，两个车道都堵住了。",
     "lat": 30.620, "lon": 114.250},
    {"source": "camera", "description": "12号摄像头看到江北区图书馆门口人行道上有五辆共享单车倒在地上，挡住了盲道。",
     "lat": 30.600, "lon": 114.350, "category_hint": "gongxiang_danche"},
    {"source": "open311", "description": "老城区中山路公交站旁边堆了一大堆垃圾袋，从周一到现在都没人清运。",
     "address": "老城区中山路公交站"},
    {"source": "hotline", "description": "江南区滨江大道下穿通道积水很深，好几辆车被困在水里了。",
     "lat": 30.540, "lon": 114.350},
    {"source": "web", "description": "高新区光谷三路右侧车道路面有个大坑，刚才一个骑电动车的差点摔倒。",
     "lat": 30.530, "lon": 114.250},
    {"source": "hotline", "description": "江北区步行街每天晚上都有人占道经营摆摊卖烧烤，人行道都走不了。",
     "address": "江北区步行街"},
    {"source": "web", "description": "老城区青年路和三眼桥路交叉口的路灯已经一个星期不亮了，晚上一片漆黑。",
     "lat": 30.610, "lon": 114.270},
    {"source": "hotline", "description": "广场喷泉那边有一股奇怪的味道，不知道该找哪个部门。"},
]


def sample_events(city: CityConfig) -> list[dict[str, object]]:
    """The demo's events in the city's language (Chinese for 江城市, English otherwise)."""
    return SAMPLE_EVENTS_ZH if city.city.language.startswith("zh") else SAMPLE_EVENTS


DEMO_PASSWORD = "riverton-demo"  # demo mode only; printed so a newcomer can sign in
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def sample_kb_folder(city_file: Path) -> Path | None:
    """The knowledge base shipped for a bundled city (``cityloop/kb/<city file stem>``)."""
    folder = KB_DIR / city_file.stem
    return folder if folder.is_dir() else None


def load_sample_kb(database_url: str, city_file: Path) -> int:
    """Put the city's sample knowledge base into the hotline's, once: files already there
    (by source) are skipped. Returns the number of documents added."""
    from agents.embeddings import shared_embedder
    from dispatch.hotline.kb import add_documents
    from dispatch.hotline.models import KbDocument
    from dispatch.hotline.parse import KINDS, parse_path

    folder = sample_kb_folder(city_file)
    if folder is None:
        return 0
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in KINDS)
    engine = make_engine(database_url, pool_size=1)
    try:
        with make_session_factory(engine)() as db, db.begin():
            present = set(db.scalars(select(KbDocument.source).where(
                KbDocument.source.in_([str(p) for p in files]))))
            documents = [doc for path in files if str(path) not in present for doc in parse_path(path)]
            added, _ = add_documents(db_session=db, documents=documents, embedder=shared_embedder())
    finally:
        engine.dispose()
    return added


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


def _post_samples(client: httpx.Client, events: list[dict[str, object]]) -> list[str]:
    ids = []
    for i, event in enumerate(events):
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
             accounts: list[tuple[str, str, str | None]] | None = None,
             events: list[dict[str, object]] | None = None) -> int:
    """Post the sample events (``events``, default the English ones), then print each
    ticket as it appears."""
    base = base_url.rstrip("/")
    with httpx.Client(base_url=base, timeout=10.0, follow_redirects=False) as client:
        ids = _post_samples(client, SAMPLE_EVENTS if events is None else events)
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

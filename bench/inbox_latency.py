"""Server time of the inbox pages over 100,000 tickets, against a static file in the same run.

    python bench/inbox_latency.py [--tickets 100000] [--requests 60] [--keep]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth). The bench creates the
scratch database ``cityloop_bench_inbox``, migrates it, seeds the tickets (with their events,
incidents and history) in a few ``INSERT ... SELECT generate_series`` statements, and drops
the database at the end (``--keep`` leaves it). The FastAPI app runs in-process; a timing
middleware at the outside of the ASGI stack measures each request from its arrival to the
last body byte, so neither the client nor a network is counted. Each route is called a few
times to warm up, then ``--requests`` times; p50 and p95 are reported per route, with the
ratio of each p95 to the p95 of the baseline, a static file served by the same app in the
same run (``/health`` is no baseline: it pings the Celery workers with a 1-second timeout).
The dashboard is measured twice: computed on every request (its cache off), and as served
(its figures cached for a few seconds per scope and filter). Target: p95 under 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient

from agents import LLMConfig
from api.app import create_app
from api.config import ApiConfig
from api.web.dashboard import CACHE_S, SummaryCache
from dispatch.city.config import load_city
from dispatch.core.config import DispatchConfig
from dispatch.core.db import migrate
from tests.helpers.webauth import login

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DB_NAME = "cityloop_bench_inbox"
CITY_FILE = ROOT / "cityloop" / "cities" / "riverton.yaml"
WARMUP = 5
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Scope]]
Send = Callable[[Scope], Awaitable[None]]

# Ticket i (the id too), created over the last year, newest ids newest: 20 % active (open,
# acknowledged, in progress), 77 % resolved or closed, 2 % rejected, 1 % in triage; category,
# district, agency and priority by other moduli; one in ten is due an hour after it came in
# (so overdue, or resolved late), the others three days after.
EVENTS = """
INSERT INTO events (id, source, description, lat, lon, district, received_at, status, flags)
SELECT md5(i || 'e')::uuid, 'hotline',
       'Report ' || i || ': ' || (CAST(:words AS text[]))[1 + i % 12]
       || ' near ' || (CAST(:words AS text[]))[1 + (i / 12) % 12],
       41.55 + (i % 997) / 10000.0, -93.70 + (i % 991) / 10000.0, (CAST(:districts AS text[]))[1 + i % :nd],
       now() - ((:n - i) * interval '365 days') / :n, 'processed', '[]'
FROM generate_series(1, :n) AS i
"""
INCIDENTS = """
INSERT INTO incidents (id, origin_event_id, category, severity, title, description,
                       location_phrase, recommended_action, lat, lon, district, classification,
                       writeup, needs_triage, triage_reasons, created_at)
SELECT md5(i || 'i')::uuid, md5(i || 'e')::uuid, (CAST(:categories AS text[]))[1 + i % :nc], 'medium',
       'Incident ' || i, 'A ' || (CAST(:words AS text[]))[1 + i % 12] || ' reported by a resident, case ' || i,
       '', '', 41.55 + (i % 997) / 10000.0, -93.70 + (i % 991) / 10000.0,
       (CAST(:districts AS text[]))[1 + i % :nd], '{}', '{"method": "bench"}', false, '[]',
       now() - ((:n - i) * interval '365 days') / :n
FROM generate_series(1, :n) AS i
"""
TICKETS = """
INSERT INTO tickets (reference, incident_id, agency, status, priority, category, district,
                     title, needs_triage, routing, routing_seq, rejected_by, sla_due_at,
                     sla_breached, created_at, updated_at)
SELECT 'B-' || lpad(i::text, 8, '0'), md5(i || 'i')::uuid,
       CASE WHEN s = 'triage' THEN NULL ELSE (CAST(:agencies AS text[]))[1 + i % :na] END, s,
       (ARRAY['low', 'medium', 'high', 'critical'])[1 + (i / 7) % 4], (CAST(:categories AS text[]))[1 + i % :nc],
       (CAST(:districts AS text[]))[1 + i % :nd], 'Ticket ' || i || ' ' || (CAST(:words AS text[]))[1 + i % 12],
       s = 'triage',
       '{"method": "rule", "reason": "bench"}', 1, '[]',
       now() - ((:n - i) * interval '365 days') / :n
             + CASE WHEN i % 10 = 0 THEN interval '1 hour' ELSE interval '3 days' END,
       false, now() - ((:n - i) * interval '365 days') / :n, now()
FROM (SELECT i, CASE WHEN i % 100 < 10 THEN 'open' WHEN i % 100 < 15 THEN 'acknowledged'
                     WHEN i % 100 < 20 THEN 'in_progress' WHEN i % 100 < 50 THEN 'resolved'
                     WHEN i % 100 < 97 THEN 'closed' WHEN i % 100 < 99 THEN 'rejected'
                     ELSE 'triage' END AS s
      FROM generate_series(1, :n) AS i) AS g
"""
HISTORY = """
INSERT INTO ticket_history (ticket_id, at, actor, action, from_status, to_status, agency, data)
SELECT id, created_at, 'system:router', 'routed', NULL, 'open', agency, '{}'::jsonb FROM tickets
UNION ALL
SELECT id, created_at + interval '20 hours', 'bench', 'resolve', 'in_progress', 'resolved',
       agency, '{}'::jsonb FROM tickets WHERE status IN ('resolved', 'closed')
"""
WORDS = ["fallen tree", "pothole", "graffiti", "garbage", "water", "branch", "bicycle",
         "streetlight", "sidewalk", "flooding", "bench", "sign"]


class ServerTimer:
    """Outermost ASGI middleware: seconds from a request's arrival to its last body byte."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed_send(message: Scope) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.times.append(time.perf_counter() - start)

        await self.app(scope, receive, timed_send)


def seed(url: str, n: int) -> float:
    city = load_city(CITY_FILE)
    categories = [c.code for c in city.categories]
    agencies = [a.code for a in city.agencies]
    districts = [d.code for d, _ in city.district_shapes]
    params = {"n": n, "words": WORDS, "categories": categories, "agencies": agencies,
              "districts": districts, "nc": len(categories), "na": len(agencies),
              "nd": len(districts)}
    engine = create_engine(url)
    start = time.perf_counter()
    with engine.begin() as conn:
        for statement in (EVENTS, INCIDENTS, TICKETS, HISTORY):
            conn.execute(text(statement), params)
        conn.execute(text("UPDATE events AS e SET incident_id = i.id FROM incidents AS i "
                          "WHERE i.origin_event_id = e.id"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return time.perf_counter() - start


def measure(client: TestClient, timer: ServerTimer, path: str, requests: int,
            cache: SummaryCache) -> list[float]:
    cache.ttl_s = 0.0 if "uncached" in path else CACHE_S
    path = path.replace("#uncached", "")
    for _ in range(WARMUP):
        assert client.get(path).status_code == 200, path
    timer.times.clear()
    for _ in range(requests):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return list(timer.times)


def pct(times: list[float], q: float) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[int(q) - 1] * 1000


def run(args: argparse.Namespace) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}"
    try:
        migrate(url)
        print(f"seeded {args.tickets} tickets in {seed(url, args.tickets):.1f} s", flush=True)
        config = ApiConfig(dispatch=DispatchConfig(
            database_url=url, broker_url="redis://127.0.0.1:6379/14", city_file=CITY_FILE,
            llm=LLMConfig(base_url="http://127.0.0.1:9/v1", timeout_s=1, max_retries=0)))
        app = create_app(config)
        timer = ServerTimer(app)
        with TestClient(timer) as dispatcher, TestClient(timer) as staff:
            login(dispatcher, "bench-dispatcher", "dispatcher")
            login(staff, "bench-staff", "staff", "landscaping")
            newest = args.tickets  # i % 100 == 0: an open ticket
            routes = [
                ("baseline /static/inbox.css", dispatcher, "/static/inbox.css"),
                ("inbox, all agencies", dispatcher, "/inbox"),
                ("inbox, one agency (staff)", staff, "/inbox"),
                ("inbox, filtered", dispatcher,
                 "/inbox?status=all&category=pothole&district=riverside&priority=high"),
                ("inbox, SLA breached", dispatcher, "/inbox?sla=breached"),
                ("inbox, search", dispatcher, "/inbox?q=streetlight"),
                ("inbox, next page", dispatcher, f"/inbox/rows?cursor={args.tickets // 2}"),
                ("ticket page", dispatcher, f"/tickets/{newest}"),
                ("dashboard, all agencies", dispatcher, "/dashboard#uncached"),
                ("dashboard, one agency (staff)", staff, "/dashboard#uncached"),
                (f"dashboard, all, cached {CACHE_S:.0f} s", dispatcher, "/dashboard"),
                (f"dashboard, staff, cached {CACHE_S:.0f} s", staff, "/dashboard"),
            ]
            cache = SummaryCache()
            app.state.dashboard_cache = cache
            report(routes, timer, args.requests, cache)
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        admin.dispose()


def report(routes: list[tuple[str, TestClient, str]], timer: ServerTimer, requests: int,
           cache: SummaryCache) -> None:
    results = [(name, measure(client, timer, path, requests, cache))
               for name, client, path in routes]
    base_p95 = pct(results[0][1], 95)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load} (other work on the machine inflates every "
          "figure; compare the ratios)")
    print(f"{'route':32} {'p50 ms':>8} {'p95 ms':>8} {'p95/base':>9}")
    for name, times in results:
        p50, p95 = pct(times, 50), pct(times, 95)
        flag = "" if p95 < 50 else "  over the 50 ms target"
        print(f"{name:32} {p50:8.1f} {p95:8.1f} {p95 / base_p95:9.1f}{flag}")
    worst = max(results[1:], key=lambda r: pct(r[1], 95))
    print(f"ratio worst p95 ({worst[0]})/baseline p95 = {pct(worst[1], 95) / base_p95:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    run(parser.parse_args())


if __name__ == "__main__":
    main()

"""Server time of "Ask the city" over 100,000 incidents, against baselines in the same run.

    python bench/ask_latency.py [--server local|embedded] [--tickets 100000] [--requests 40] [--keep]

``--server local`` (the default) uses PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth):
Debian's PostgreSQL has no pgvector, so "show similar" and text questions run on the numpy
fallback. ``--server embedded`` starts the embedded PostgreSQL 18 (with pgvector) in a
temporary directory: migration 0016 adds the HNSW-indexed vector column. The bench creates a
scratch database, migrates it, seeds tickets, events and incidents with ``INSERT ... SELECT
generate_series`` (as bench/inbox_latency.py does) and gives each incident a 384-number
embedding: one of twelve real all-MiniLM-L6-v2 sentence vectors plus noise, normalised (what
the incident flow stores). With pgvector the HNSW index is built after the seeding.

The app runs in-process with the real MiniLM embedder; a timing middleware at the outside of
the ASGI stack measures each request from its arrival to its last body byte. Each route is
called a few times to warm up (the numpy fallback reads every vector into memory on its first
search: that one-off is reported apart), then ``--requests`` times. Reported per route: p50,
p95, the ratio of its p95 to the static-file baseline's p95, and — where the inbox has the same
filter — to the inbox page with that filter ("same query"); "show similar" against the
ticket's own JSON. Target: p95 under 200 ms for filter questions and for "show similar".
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient

from agents import LLMConfig
from agents.embeddings import SentenceTransformerEmbedder
from api.app import create_app
from api.config import ApiConfig
from bench.inbox_latency import WORDS, ServerTimer, pct, seed
from dispatch.ask.vectors import detect
from dispatch.core.config import DispatchConfig
from dispatch.core.db import migrate
from tests.helpers.webauth import login

DB_NAME = "cityloop_bench_ask"
CITY_FILE = ROOT / "cityloop" / "cities" / "riverton.yaml"
WARMUP = 5
TARGET_MS = 200.0
NOISE = 0.03
ORDER = "SELECT id FROM incidents ORDER BY created_at, id"
Route = tuple[str, str, str, str | None]  # name, who, path, same-query baseline path

ROUTES: list[Route] = [
    ("baseline /static/inbox.css", "dispatcher", "/static/inbox.css", None),
    ("ask: category+near+this week", "dispatcher",
     "/api/ask?q=fallen+trees+near+schools+this+week", None),
    ("ask: open+district+older than", "dispatcher",
     "/api/ask?q=open+potholes+in+Riverside+older+than+3+days",
     "/inbox?category=pothole&district=riverside"),
    ("ask: overdue+category+district", "dispatcher",
     "/api/ask?q=overdue+garbage+in+East+Heights",
     "/inbox?sla=breached&category=exposed_garbage&district=east_heights"),
    ("ask: status+last month", "dispatcher", "/api/ask?q=resolved+potholes+last+month",
     "/inbox?status=resolved&category=pothole"),
    ("ask: Chinese, district+status", "dispatcher",
     "/api/ask?q=%E4%B8%9C%E5%8C%BA%E8%B6%85%E8%BF%873%E5%A4%A9%E6%9C%AA%E5%A4%84%E7%90%86"
     "%E7%9A%84%E5%9D%91%E6%B4%BC", "/inbox?category=pothole&district=east_heights"),
    ("ask: staff, one agency", "staff", "/api/ask?q=fallen+trees+this+month",
     "/inbox?category=fallen_tree"),
    ("ask: text (words+meaning)", "dispatcher", "/api/ask?q=graffiti+on+the+bridge",
     "/inbox?status=all&q=graffiti+bridge"),
    ("similar (dispatcher)", "dispatcher", "/api/tickets/{ticket}/similar",
     "/api/tickets/{ticket}"),
    ("similar (staff)", "staff", "/api/tickets/{staff_ticket}/similar",
     "/api/tickets/{staff_ticket}"),
]


@contextmanager
def database(server: str) -> Iterator[tuple[str, str]]:
    """(admin URL, scratch database URL) on the chosen server."""
    if server == "local":
        yield ("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
               f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB_NAME}")
        return
    from cityloop.localservices import EmbeddedPostgres

    with tempfile.TemporaryDirectory() as folder, \
            EmbeddedPostgres(Path(folder) / "pg", database="postgres") as pg:
        yield pg.url, pg.url.replace("/postgres?", f"/{DB_NAME}?")


def embeddings(n: int, embedder: SentenceTransformerEmbedder) -> np.ndarray:
    """Row i: the vector of WORDS[i % 12] (the word the bench puts in incident i's text) plus
    noise, unit length."""
    base = embedder.embed([f"A {word} reported by a resident" for word in WORDS])
    rows = base[np.arange(1, n + 1) % len(WORDS)]
    rows = rows + np.random.default_rng(0).normal(0, NOISE, rows.shape).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def add_embeddings(url: str, vectors: np.ndarray) -> tuple[float, float]:
    """Write every incident's JSONB embedding (COPY, then one UPDATE); with pgvector, rebuild
    the HNSW index afterwards. Returns (seconds writing, seconds indexing)."""
    engine = create_engine(url)
    start = time.perf_counter()
    indexed = 0.0
    with engine.begin() as conn:
        has_vector = conn.execute(text(
            "SELECT 1 FROM pg_attribute WHERE attrelid = 'incidents'::regclass "
            "AND attname = 'embedding_vec'")).first() is not None
        if has_vector:
            conn.execute(text("DROP INDEX ix_incidents_embedding_vec"))
        ids = [row[0] for row in conn.execute(text(ORDER))]
        conn.execute(text("CREATE TEMP TABLE seeded (id uuid, embedding jsonb) ON COMMIT DROP"))
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor().copy("COPY seeded (id, embedding) FROM STDIN") as copy:
            for incident_id, vector in zip(ids, vectors, strict=True):
                copy.write_row((incident_id, "[" + ",".join(f"{x:.5f}" for x in vector) + "]"))
        conn.execute(text("UPDATE incidents AS i SET embedding = s.embedding FROM seeded AS s "
                          "WHERE s.id = i.id"))
        written = time.perf_counter() - start
        if has_vector:
            began = time.perf_counter()
            conn.execute(text("SET maintenance_work_mem = '512MB'"))
            conn.execute(text("CREATE INDEX ix_incidents_embedding_vec ON incidents "
                              "USING hnsw (embedding_vec vector_cosine_ops)"))
            indexed = time.perf_counter() - began
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE incidents"))
    engine.dispose()
    return written, indexed


def measure(client: TestClient, timer: ServerTimer, path: str, requests: int) -> list[float]:
    for _ in range(WARMUP):
        assert client.get(path).status_code == 200, path
    timer.times.clear()
    for _ in range(requests):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return list(timer.times)


def run(args: argparse.Namespace) -> None:
    embedder = SentenceTransformerEmbedder()
    with database(args.server) as (admin_url, url):
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
        try:
            migrate(url)
            print(f"seeded {args.tickets} tickets in {seed(url, args.tickets):.1f} s", flush=True)
            written, indexed = add_embeddings(url, embeddings(args.tickets, embedder))
            print(f"embeddings written in {written:.1f} s"
                  + (f"; HNSW index built in {indexed:.1f} s" if indexed else ""), flush=True)
            serve(url, args)
        finally:
            if not args.keep:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
            admin.dispose()


def serve(url: str, args: argparse.Namespace) -> None:
    config = ApiConfig(dispatch=DispatchConfig(
        database_url=url, broker_url="redis://127.0.0.1:6379/14", city_file=CITY_FILE,
        llm=LLMConfig(base_url="http://127.0.0.1:9/v1", timeout_s=1, max_retries=0)))
    app = create_app(config)
    timer = ServerTimer(app)
    with TestClient(timer) as dispatcher, TestClient(timer) as staff:
        login(dispatcher, "bench-dispatcher", "dispatcher")
        login(staff, "bench-staff", "staff", "landscaping")
        clients = {"dispatcher": dispatcher, "staff": staff}
        backend = detect(create_engine(url))
        print(f"vector backend: {backend.name} ({backend.detail})")
        # ticket i has agency i % 7 (landscaping is the first); both are open tickets
        ticket, staff_ticket = args.tickets, args.tickets - args.tickets % 700
        started = time.perf_counter()
        assert dispatcher.get(f"/api/tickets/{ticket}/similar").status_code == 200
        print(f"first search of the process: {time.perf_counter() - started:.2f} s "
              "(numpy reads every vector once; pgvector: nothing to read)")
        report(clients, timer, args.requests, ticket, staff_ticket)


def report(clients: dict[str, TestClient], timer: ServerTimer, requests: int, ticket: int,
           staff_ticket: int) -> None:
    def path_of(template: str) -> str:
        return template.format(ticket=ticket, staff_ticket=staff_ticket)

    rows = []
    for name, who, path, same in ROUTES:
        times = measure(clients[who], timer, path_of(path), requests)
        same_times = measure(clients[who], timer, path_of(same), requests) if same else None
        rows.append((name, times, same_times))
    base_p95 = pct(rows[0][1], 95)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load} (other work on the machine inflates every "
          "figure; compare the ratios)")
    print(f"{'route':32} {'p50 ms':>8} {'p95 ms':>8} {'p95/base':>9} {'same p95':>9} {'p95/same':>9}")
    for name, times, same_times in rows:
        p50, p95 = pct(times, 50), pct(times, 95)
        same = f"{pct(same_times, 95):9.1f} {p95 / pct(same_times, 95):9.1f}" if same_times \
            else f"{'':9} {'':9}"
        flag = "" if p95 < TARGET_MS or name.startswith("baseline") else "  over the 200 ms target"
        print(f"{name:32} {p50:8.1f} {p95:8.1f} {p95 / base_p95:9.1f} {same}{flag}")
    asks = [r for r in rows[1:] if r[0].startswith("ask")]
    similar = [r for r in rows if r[0].startswith("similar")]
    worst_ask = max(asks, key=lambda r: pct(r[1], 95))
    worst_similar = max(similar, key=lambda r: pct(r[1], 95))
    print(f"ratio worst ask p95 ({worst_ask[0]})/baseline p95 = "
          f"{pct(worst_ask[1], 95) / base_p95:.1f}; worst similar p95 ({worst_similar[0]})/baseline "
          f"p95 = {pct(worst_similar[1], 95) / base_p95:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=("local", "embedded"), default="local")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    run(parser.parse_args())


if __name__ == "__main__":
    main()

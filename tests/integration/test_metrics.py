"""GET /metrics on real parts: events, tickets, queue depths and camera states read at scrape
time; task latencies and LLM errors counted by a real worker process in multiprocess mode."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from api.app import create_app
from api.config import ApiConfig
from dispatch.core.config import DispatchConfig
from tests.helpers.config import DOWN_LLM, make_dispatch_config

pytestmark = [pytest.mark.slow]
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "cityloop.json"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    reply = client.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(reply.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, lab), v in samples.items()
               if n == name and all((k, want) in lab for k, want in labels.items()))


@pytest.fixture()
def config(clean_state: None, migrated_db: str, broker_url: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> DispatchConfig:
    # the worker (a child) writes its counts here; the page reads them back
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    (tmp_path / "metrics").mkdir()
    return make_dispatch_config(migrated_db, broker_url, DOWN_LLM)


@pytest.fixture()
def client(config: DispatchConfig) -> Iterator[TestClient]:
    with TestClient(create_app(ApiConfig(dispatch=config))) as test_client:
        yield test_client


def test_metrics_count_what_happened_across_processes(client: TestClient, config: DispatchConfig,
                                                      start_worker: Any) -> None:
    bodies = [{"source": "web", "description": "A tree fell across Oak Road."},
              {"source": "web", "description": "Garbage bags dumped at the park corner."},
              {"source": "hotline", "description": "Deep pothole on 5th Avenue."}]
    for body in bodies:
        assert client.post("/api/events", json=body).status_code == 202
    before = scrape(client)
    assert value(before, "cityloop_events_total", source="web") == 2
    assert value(before, "cityloop_events_total", source="hotline") == 1
    assert value(before, "cityloop_queue_depth", queue="pipeline.understand") >= 1
    assert total(before, "cityloop_tickets") == 0

    engine = create_engine(config.database_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO camera_status (camera_id, worker, state, detail) "
                          "VALUES ('cam-1', 'w', 'reconnecting', '{}')"))
    worker = start_worker(config)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.scalar(text("SELECT count(*) FROM tickets")) == 3:
                break
        time.sleep(0.5)
    engine.dispose()
    worker.stop()  # its pool processes have written their last counts

    after = scrape(client)
    assert total(after, "cityloop_tickets") == 3, worker.log()[-2000:]
    assert value(after, "cityloop_queue_depth", queue="pipeline.understand") == 0
    understood = total(after, "cityloop_task_duration_seconds_count", task="cityloop.understand_event",
                       state="SUCCESS")
    assert understood >= 1  # counted in the worker's pool processes, read from their files
    assert total(after, "cityloop_task_duration_seconds_count", task="cityloop.deliver_ticket") >= 1
    assert total(after, "cityloop_llm_errors_total") >= 1  # the LLM is down; each failed call counted
    assert total(after, "cityloop_llm_call_duration_seconds_count", outcome="error") >= 1
    assert value(after, "cityloop_camera_state", camera="cam-1", state="reconnecting") == 1
    assert value(after, "cityloop_camera_state", camera="cam-1", state="running") == 0
    assert total(after, "cityloop_scrape_errors_total") == 0
    # every series the Grafana dashboard draws is on the page
    drawn = {re.sub(r"_(bucket|count|sum)$", "", name) for panel in json.loads(DASHBOARD.read_text())["panels"]
             for target in panel["targets"] for name in re.findall(r"cityloop_\w+", target["expr"])}
    page = {family.name for family in text_string_to_metric_families(client.get("/metrics").text)}
    defined = {metric.name for metric in REGISTRY.collect()}  # counted ones nothing has touched yet
    assert drawn - {f"{name}_total" for name in page | defined} - page - defined == set()

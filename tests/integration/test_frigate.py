"""Frigate over the real Mosquitto on 127.0.0.1:1883: a replayed sample of Frigate's event
messages becomes the expected camera events and tickets, once each; a restarted bridge and a
second replay make nothing new; every ticket's routing is published on cityloop/tickets/...

Each run uses topics and an MQTT client id of its own, so runs never see each other's messages.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from PIL import Image
from sqlalchemy import create_engine, select, text

from dispatch.cameras.frigate import FrigateBridge, frigate_event_key, handle_message
from dispatch.city.config import CityConfig, load_city
from dispatch.core.celery_app import configure
from dispatch.core.config import DispatchConfig
from dispatch.core.db import make_engine, make_session_factory
from dispatch.intake.models import Event
from tests.helpers.config import DOWN_LLM, SAMPLE_CITY, make_dispatch_config
from tests.helpers.services import port_open

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "frigate" / "events.jsonl"
BICYCLE, CAR = "1733460000.101-a1b2c3", "1733460042.550-d4e5f6"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not port_open(1883), reason="needs Mosquitto on 1883")]


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 60)).save(out, format="JPEG")
    return out.getvalue()


class FakeFrigateApi:
    """Frigate's HTTP API, as far as the bridge uses it: ``/api/events/<id>/snapshot.jpg``."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        image, seen = _jpeg(), self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                seen.append(self.path)
                self.send_response(200 if self.path.endswith("/snapshot.jpg") else 404)
                self.send_header("Content-Type", "image/jpeg")
                self.end_headers()
                self.wfile.write(image)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()


def _city_file(tmp_path: Path, *, run: str, api_url: str) -> Path:
    data = yaml.safe_load(SAMPLE_CITY.read_text())
    data["frigate"] = {
        "url": "mqtt://127.0.0.1:1883", "topic_prefix": f"frigate-{run}", "client_id": f"cityloop-test-{run}",
        "cameras": {"bridge_north": "cam-main-st-bridge", "old_town": "cam-old-town-square"},
        "labels": {"bicycle": "fallen_bicycle", "car": "abandoned_vehicle"},
        "api_url": api_url, "min_score": 0.6}
    data["mqtt"] = {"url": "mqtt://127.0.0.1:1883", "tickets_topic": f"cityloop-{run}/tickets"}
    path = tmp_path / "city.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _mqtt(client_id: str) -> paho.Client:
    made = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    made.connect("127.0.0.1", 1883)
    made.loop_start()
    return made


def replay(topic: str) -> int:
    """Publish the sample as Frigate would (QoS 1); the number of messages."""
    frigate = _mqtt(f"fake-frigate-{uuid.uuid4().hex[:8]}")
    lines = SAMPLE.read_text().splitlines()
    for line in lines:
        frigate.publish(topic, line.encode(), qos=1).wait_for_publish(timeout=10)
    frigate.disconnect()
    frigate.loop_stop()
    return len(lines)


class Running:
    """A bridge on its own thread; ``stop`` ends it like SIGTERM ends ``cityloop frigate run``."""

    def __init__(self, bridge: FrigateBridge) -> None:
        self.bridge = bridge
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=bridge.run, args=(self.stop_flag,), daemon=True)
        self.thread.start()
        assert bridge.subscribed.wait(20), "the bridge did not subscribe"

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join(timeout=20)


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture()
def frigate_api() -> Iterator[FakeFrigateApi]:
    api = FakeFrigateApi()
    yield api
    api.stop()


@pytest.fixture()
def setup(clean_state: None, migrated_db: str, broker_url: str, tmp_path: Path,
          frigate_api: FakeFrigateApi) -> tuple[DispatchConfig, CityConfig, str]:
    run = uuid.uuid4().hex[:10]
    city_file = _city_file(tmp_path, run=run, api_url=frigate_api.url)
    config = make_dispatch_config(migrated_db, broker_url, DOWN_LLM).model_copy(update={"city_file": city_file})
    configure(config)  # the bridge queues what it stores on this broker
    return config, load_city(city_file), run


def _counts(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT (SELECT count(*) FROM events WHERE source = 'camera'), "
            "(SELECT count(*) FROM events WHERE source = 'camera' AND image IS NOT NULL), "
            "(SELECT count(*) FROM tickets), "
            "(SELECT count(*) FROM deliveries WHERE channel = 'mqtt' AND status = 'sent')")).one()
    engine.dispose()
    return {"events": row[0], "with_snapshot": row[1], "tickets": row[2], "published": row[3]}


def test_replayed_frigate_events_make_their_tickets_once(
        setup: tuple[DispatchConfig, CityConfig, str], frigate_api: FakeFrigateApi, start_worker: Any) -> None:
    config, city, run = setup
    assert city.frigate is not None
    topic = f"{city.frigate.topic_prefix}/events"
    published: dict[str, dict[str, Any]] = {}
    watcher = _mqtt(f"watcher-{run}")
    watcher.on_message = lambda _c, _u, m: published.__setitem__(m.topic, json.loads(m.payload))
    watcher.subscribe(f"cityloop-{run}/tickets/#", qos=1)

    engine = make_engine(config.database_url, pool_size=2)
    bridge = FrigateBridge(factory=make_session_factory(engine), city=city, settings=city.frigate,
                           env={}, max_image_bytes=config.max_image_bytes)
    running = Running(bridge)
    sent = replay(topic)
    wait_for(lambda: bridge.stats.received >= sent, 30, "the bridge to read the sample")
    assert bridge.stats.outcomes.get("created") == 2, bridge.stats.outcomes
    assert _counts(config.database_url)["with_snapshot"] == 2
    assert any(BICYCLE in path for path in frigate_api.requests)

    start_worker(config)
    wait_for(lambda: _counts(config.database_url)["published"] == 2, 240, "two tickets published on MQTT")
    with engine.connect() as conn:
        tickets = conn.execute(text(
            "SELECT t.id, t.agency, t.category, e.idempotency_key FROM tickets t "
            "JOIN incidents i ON i.id = t.incident_id JOIN events e ON e.id = i.origin_event_id "
            "ORDER BY t.category")).all()
    assert [(t.agency, t.category) for t in tickets] == [("police", "abandoned_vehicle"),
                                                         ("urban_admin", "fallen_bicycle")]
    assert {t.idempotency_key for t in tickets} == {frigate_event_key("cam-main-st-bridge", BICYCLE),
                                                    frigate_event_key("cam-old-town-square", CAR)}
    wait_for(lambda: len(published) == 2, 30, "the watcher to get both tickets")
    for t in tickets:
        body = published[f"cityloop-{run}/tickets/{t.agency}/{t.id}"]
        assert body["ticket_id"] == t.id and body["category"] == t.category

    # the bridge restarts: what is replayed while it is away, and again after, makes nothing new
    running.stop()
    replay(topic)  # queued at the broker for the bridge's persistent session
    restarted = FrigateBridge(factory=make_session_factory(engine), city=city, settings=city.frigate,
                              env={}, max_image_bytes=config.max_image_bytes)
    running = Running(restarted)
    sent_again = replay(topic)
    wait_for(lambda: restarted.stats.received >= sent + sent_again, 30, "the restarted bridge to read both replays")
    running.stop()
    assert restarted.stats.outcomes.get("created", 0) == 0, restarted.stats.outcomes
    time.sleep(3)  # anything queued by mistake would have made a ticket by now
    assert _counts(config.database_url) == {"events": 2, "with_snapshot": 2, "tickets": 2, "published": 2}
    watcher.disconnect()
    watcher.loop_stop()
    engine.dispose()


def test_a_message_that_is_not_frigates_is_ignored(setup: tuple[DispatchConfig, CityConfig, str]) -> None:
    config, city, _ = setup
    assert city.frigate is not None
    engine = make_engine(config.database_url, pool_size=1)
    factory = make_session_factory(engine)
    for payload in (b"not json", b'{"type": "new"}', b'{"type": "gone", "after": {}}'):
        handled = handle_message(factory=factory, city=city, settings=city.frigate, payload=payload,
                                 snapshot=None, max_image_bytes=1000)
        assert handled.outcome == "ignored" and "not a Frigate event message" in handled.reason
    engine.dispose()
    assert _counts(config.database_url)["events"] == 0


def test_a_frigate_event_happened_when_frigate_first_saw_the_object(
        setup: tuple[DispatchConfig, CityConfig, str]) -> None:
    """Time-of-day routing rules read the sighting: ``start_time`` is the event's ``occurred_at``;
    a start in the future (a camera clock running fast) or before 1990 (a clock reset) falls back
    to the arrival, never a refusal."""
    config, city, _ = setup
    assert city.frigate is not None
    engine = make_engine(config.database_url, pool_size=1)
    factory = make_session_factory(engine)
    first = json.loads(SAMPLE.read_text().splitlines()[0])
    seen: dict[str, datetime | None] = {}
    sent: dict[str, dict[str, Any]] = {}
    for name, start in (("past", first["after"]["start_time"]), ("future", time.time() + 86_400), ("none", None),
                        ("clock_reset", 86_400.0)):  # 1970-01-02: before any event CityLoop stores
        message = {**first, "after": {**first["after"], "id": f"{name}-{uuid.uuid4().hex[:6]}", "start_time": start}}
        handled = handle_message(factory=factory, city=city, settings=city.frigate,
                                 payload=json.dumps(message).encode(), snapshot=None, max_image_bytes=1000)
        assert handled.outcome == "created", handled
        sent[name] = message
        with factory() as db:
            seen[name] = db.scalar(select(Event.occurred_at).where(Event.id == uuid.UUID(handled.event_id)))
    # a later message of the same object (same start_time) moves last_seen, never first_seen
    update = {**sent["past"], "type": "update"}
    refreshed = handle_message(factory=factory, city=city, settings=city.frigate,
                               payload=json.dumps(update).encode(), snapshot=None, max_image_bytes=1000)
    assert refreshed.outcome == "refreshed", refreshed
    with factory() as db:
        stored = db.get(Event, uuid.UUID(refreshed.event_id))
        assert stored is not None
        started = datetime.fromtimestamp(first["after"]["start_time"], UTC)
        assert datetime.fromisoformat(stored.attributes["first_seen"]) == started
        assert datetime.fromisoformat(stored.attributes["last_seen"]) > started + timedelta(days=365)  # now
    engine.dispose()
    assert seen == {"past": datetime.fromtimestamp(first["after"]["start_time"], UTC), "future": None, "none": None,
                    "clock_reset": None}

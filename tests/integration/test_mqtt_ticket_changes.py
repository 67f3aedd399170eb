"""Ticket changes published on MQTT for other systems (issue 18): after each staff action the
ticket's state goes out on ``<tickets_topic>/<agency>/<ticket id>``, retained, once per change,
through the same outbox as every other channel. Against the Mosquitto on 127.0.0.1:1883."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from api.app import create_app
from api.config import ApiConfig
from dispatch.core.runtime import get_runtime
from dispatch.delivery import outbox
from dispatch.delivery.models import Delivery
from tests.helpers.config import DOWN_LLM, SAMPLE_CITY, make_dispatch_config
from tests.helpers.services import port_open
from tests.helpers.tickets import make_ticket
from tests.helpers.webauth import login

pytestmark = pytest.mark.skipif(not port_open(1883), reason="needs Mosquitto on 127.0.0.1:1883")


@pytest.fixture()
def run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture()
def client(migrated_db: str, broker_url: str, clean_state: None, tmp_path: Path,
           run_id: str) -> Iterator[TestClient]:
    data = yaml.safe_load(SAMPLE_CITY.read_text())
    data["mqtt"] = {"url": "mqtt://127.0.0.1:1883", "tickets_topic": f"cityloop-{run_id}/tickets"}
    city_file = tmp_path / "city.yaml"
    city_file.write_text(yaml.safe_dump(data, sort_keys=False))
    config = make_dispatch_config(migrated_db, broker_url, DOWN_LLM).model_copy(update={"city_file": city_file})
    with TestClient(create_app(ApiConfig(dispatch=config))) as made:
        yield made


class Watcher:
    def __init__(self, topic: str) -> None:
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self.subscribed = threading.Event()
        self.mqttc = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"watcher-{uuid.uuid4().hex[:8]}")
        self.mqttc.on_message = lambda _c, _u, m: self.messages.append(
            (m.topic, json.loads(m.payload), bool(m.retain)))
        self.mqttc.on_subscribe = lambda *_: self.subscribed.set()
        self.mqttc.connect("127.0.0.1", 1883)
        self.mqttc.subscribe(topic, qos=1)
        self.mqttc.loop_start()
        assert self.subscribed.wait(10)

    def wait(self, count: int) -> None:
        deadline = time.monotonic() + 20
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        self.mqttc.disconnect()
        self.mqttc.loop_stop()


def send_pending() -> list[str]:
    """What the agency's worker does: one try of every pending delivery; their channels."""
    rt = get_runtime()
    with rt.factory() as db:
        rows = db.execute(select(Delivery.id, Delivery.channel).where(Delivery.status == "pending")
                          .order_by(Delivery.id)).all()
    for row in rows:
        assert outbox.attempt(factory=rt.factory, city=rt.city, delivery_id=row.id, env={}).status == "sent"
    return [row.channel for row in rows]


def test_each_staff_action_publishes_the_ticket_once_with_its_new_status(client: TestClient,
                                                                         run_id: str) -> None:
    login(client, f"mqtt-disp-{run_id}", "dispatcher")
    ticket_id = make_ticket(client, "A large tree fell on Mill Street")
    agency = client.get(f"/api/tickets/{ticket_id}").json()["agency"]
    watcher = Watcher(f"cityloop-{run_id}/tickets/#")
    try:
        assert send_pending() == []  # the routing's own publication waits for the inbox delivery task
        for action, status in (("acknowledge", "acknowledged"), ("start", "in_progress")):
            response = client.post(f"/api/tickets/{ticket_id}/{action}", json={"actor": "ignored"})
            assert response.status_code == 200, response.text
            assert response.json()["ticket"]["status"] == status
            channels = send_pending()
            assert len(channels) == 1 and channels[0].startswith("mqtt-change-")
            assert send_pending() == []  # nothing is sent twice
        watcher.wait(2)
    finally:
        watcher.stop()

    topic = f"cityloop-{run_id}/tickets/{agency}/{ticket_id}"
    bodies = [body for got, body, _ in watcher.messages if got == topic]
    assert [b["status"] for b in bodies] == ["acknowledged", "in_progress"]
    assert bodies[0]["notice"] == "acknowledge: open -> acknowledged"
    assert bodies[0]["ticket_id"] == ticket_id and bodies[0]["agency"] == agency
    assert len({b["idempotency_key"] for b in bodies}) == 2

    late = Watcher(topic)  # retained: a subscriber that comes later gets the latest state
    try:
        late.wait(1)
        assert late.messages and late.messages[0][1]["status"] == "in_progress" and late.messages[0][2]
    finally:
        late.stop()


def test_a_city_without_mqtt_queues_no_publication(migrated_db: str, broker_url: str, clean_state: None,
                                                   run_id: str) -> None:
    config = make_dispatch_config(migrated_db, broker_url, DOWN_LLM)
    with TestClient(create_app(ApiConfig(dispatch=config))) as plain:
        login(plain, f"mqtt-plain-{run_id}", "dispatcher")
        ticket_id = make_ticket(plain, "A large tree fell on Mill Street")
        assert plain.post(f"/api/tickets/{ticket_id}/acknowledge", json={"actor": "x"}).status_code == 200
        rt = get_runtime()
        with rt.factory() as db:
            channels = db.scalars(select(Delivery.channel)).all()
    assert not [c for c in channels if c.startswith("mqtt")]

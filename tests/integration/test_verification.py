"""A snapshot is checked by a vision model when the served model has one; else 'unverified'."""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from api.config import ApiConfig
from dispatch.core.db import transaction
from dispatch.core.runtime import get_runtime
from dispatch.incidents import flows as incident_flows
from dispatch.incidents.models import Incident
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.fakes import FakeChatModel

WRITEUP = json.dumps({"title": "Fallen tree on Elm Street", "description": "A tree fell.",
                      "location_phrase": "Elm Street", "recommended_action": "Send a crew."})


@pytest.fixture()
def client(migrated_db: str, broker_url: str, clean_state: None) -> Iterator[TestClient]:
    config = ApiConfig(dispatch=make_dispatch_config(migrated_db, broker_url, DOWN_LLM))
    with TestClient(create_app(config)) as test_client:
        yield test_client


def _event_with_snapshot(client: TestClient) -> uuid.UUID:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (40, 120, 40)).save(buffer, format="PNG")
    reply = client.post("/api/events", json={
        "source": "camera", "description": "Tree fell across Elm Street",
        "lat": 41.62, "lon": -93.65, "image_base64": base64.b64encode(buffer.getvalue()).decode()})
    assert reply.status_code == 202, reply.text
    return uuid.UUID(reply.json()["id"])


def _incident(incident_id: uuid.UUID | None) -> Incident:
    with transaction(get_runtime().factory) as db:
        incident = db.get(Incident, incident_id)
        assert incident is not None
        return incident


def test_vision_model_rejecting_the_snapshot_marks_the_incident_for_triage(
    client: TestClient,
) -> None:
    event_id = _event_with_snapshot(client)
    fake = FakeChatModel(replies=[json.dumps({"verdict": "rejected"}), WRITEUP])
    rt = get_runtime()
    incident = _incident(incident_flows.understand_event(
        factory=rt.factory, city=rt.city, chat=fake, event_id=event_id, vision=True))
    assert incident.classification["verification"]["status"] == "rejected"
    assert any("verifier" in reason for reason in incident.triage_reasons)
    image_parts = [part for part in fake.calls[0]["messages"][-1].content
                   if isinstance(part, dict) and part.get("type") == "image_url"]
    assert image_parts and image_parts[0]["image_url"]["url"].startswith("data:image/png;base64,")


def test_text_only_model_says_unverified_without_asking(client: TestClient) -> None:
    event_id = _event_with_snapshot(client)
    fake = FakeChatModel(replies=[WRITEUP])
    rt = get_runtime()
    incident = _incident(incident_flows.understand_event(
        factory=rt.factory, city=rt.city, chat=fake, event_id=event_id, vision=False))
    assert incident.classification["verification"]["status"] == "unverified"
    assert len(fake.calls) == 1  # the write-up only; nothing pretended to look

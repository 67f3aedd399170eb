"""POST /api/events refuses bad input with a JSON answer that names the field and the limit,
stores nothing for a refused event, and accepts a repeated event only once."""

from __future__ import annotations

import base64
import io
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from api.app import create_app
from api.config import ApiConfig
from dispatch.core.runtime import get_runtime
from dispatch.intake.models import Event
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.webauth import login

MAX_IMAGE_BYTES = 50_000


@pytest.fixture()
def client(migrated_db: str, broker_url: str, clean_state: None) -> Iterator[TestClient]:
    config = ApiConfig(dispatch=make_dispatch_config(migrated_db, broker_url, DOWN_LLM),
                       max_image_bytes=MAX_IMAGE_BYTES)
    with TestClient(create_app(config)) as test_client:
        login(test_client, "tester")
        yield test_client


def event_rows() -> list[Event]:
    with get_runtime().factory() as db:
        return list(db.scalars(select(Event)))


def event_count() -> int:
    with get_runtime().factory() as db:
        return int(db.scalar(select(func.count()).select_from(Event)) or 0)


def valid_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": "hotline",
        "description": "A large tree fell across Mill Street and blocks both lanes.",
        "lat": 41.62, "lon": -93.65,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def png_bytes(size: tuple[int, int] = (32, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (30, 140, 60)).save(buf, format="PNG")
    return buf.getvalue()


def detail(response: Any, status: int = 422) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], list) and body["detail"], body
    for item in body["detail"]:
        assert isinstance(item["field"], str) and item["field"]
        assert isinstance(item["message"], str) and item["message"]
        assert "Traceback" not in item["message"]
    return body["detail"]


def error_for(items: list[dict[str, Any]], field: str) -> dict[str, Any]:
    found = [i for i in items if i["field"] == field]
    assert found, f"no error names {field!r}: {items}"
    return found[0]


# ---------------------------------------------------------------- refused events


def test_invalid_json_body(client: TestClient) -> None:
    response = client.post("/api/events", content=b'{"source": "hotline", "description": ',
                           headers={"content-type": "application/json"})
    item = error_for(detail(response), "body")
    assert "invalid JSON" in item["message"]


def test_missing_description(client: TestClient) -> None:
    body = valid_body()
    del body["description"]
    item = error_for(detail(client.post("/api/events", json=body)), "description")
    assert item["type"] == "missing"


def test_unknown_field(client: TestClient) -> None:
    item = error_for(detail(client.post("/api/events", json=valid_body(colour="green"))), "colour")
    assert item["message"] == "unknown field"


def test_unknown_category_hint_lists_the_known_ones(client: TestClient) -> None:
    response = client.post("/api/events", json=valid_body(category_hint="meteor_strike"))
    item = error_for(detail(response), "category_hint")
    assert "meteor_strike" in item["message"]
    for code in ("fallen_tree", "pothole", "waterlogging", "other"):
        assert code in item["message"]


def test_latitude_out_of_range(client: TestClient) -> None:
    item = error_for(detail(client.post("/api/events", json=valid_body(lat=91))), "lat")
    assert "90" in item["message"]


def test_latitude_without_longitude(client: TestClient) -> None:
    body = valid_body()
    del body["lon"]
    items = detail(client.post("/api/events", json=body))
    assert any(i["field"] in ("lat", "lon") for i in items), items
    assert any("lat" in i["message"] and "lon" in i["message"] for i in items), items


def test_description_too_long_names_the_limit(client: TestClient) -> None:
    response = client.post("/api/events", json=valid_body(description="x" * 4001))
    assert "4000" in error_for(detail(response), "description")["message"]


def test_description_of_exactly_the_limit_is_accepted(client: TestClient) -> None:
    response = client.post("/api/events", json=valid_body(description="x" * 4000))
    assert response.status_code == 202, response.text


def test_image_that_is_not_base64(client: TestClient) -> None:
    response = client.post("/api/events", json=valid_body(image_base64="this is *not* base64!"))
    assert "base64" in error_for(detail(response), "image_base64")["message"]


def test_image_that_is_base64_but_not_an_image(client: TestClient) -> None:
    text = base64.b64encode(b"just some words, certainly not a picture").decode()
    response = client.post("/api/events", json=valid_body(image_base64=text))
    assert "not an image" in error_for(detail(response), "image_base64")["message"]


def test_image_over_the_limit_names_the_limit(client: TestClient) -> None:
    big = base64.b64encode(os.urandom(MAX_IMAGE_BYTES + 10_000)).decode()
    response = client.post("/api/events", json=valid_body(image_base64=big))
    assert str(MAX_IMAGE_BYTES) in error_for(detail(response), "image_base64")["message"]


def test_body_over_the_limit_is_refused_before_reading(client: TestClient) -> None:
    huge = base64.b64encode(os.urandom(MAX_IMAGE_BYTES * 8)).decode()
    response = client.post("/api/events", json=valid_body(image_base64=huge))
    item = error_for(detail(response, 413), "body")
    limit = MAX_IMAGE_BYTES * 4 // 3 + 256_000
    assert str(limit) in item["message"]


def test_occurred_in_the_future(client: TestClient) -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    response = client.post("/api/events", json=valid_body(occurred_at=future))
    assert "future" in error_for(detail(response), "occurred_at")["message"]


def test_no_refused_event_is_stored(client: TestClient) -> None:
    no_lon = valid_body()
    del no_lon["lon"]
    no_description = valid_body()
    del no_description["description"]
    bad = [
        valid_body(colour="green"),
        no_description,
        valid_body(category_hint="meteor_strike"),
        valid_body(lat=91),
        no_lon,
        valid_body(description="x" * 4001),
        valid_body(image_base64="this is *not* base64!"),
        valid_body(image_base64=base64.b64encode(b"words, not a picture").decode()),
        valid_body(image_base64=base64.b64encode(os.urandom(MAX_IMAGE_BYTES + 10_000)).decode()),
        valid_body(occurred_at=(datetime.now(UTC) + timedelta(days=2)).isoformat()),
        # refused late: after the idempotency key was computed
        valid_body(external_id="hotline-77", image_base64="not base64 at all!"),
    ]
    for body in bad:
        response = client.post("/api/events", json=body)
        assert 400 <= response.status_code < 500, (body, response.text)
    response = client.post("/api/events", content=b"{", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert event_count() == 0
    # the refused external_id was not taken: the corrected event is new
    response = client.post("/api/events", json=valid_body(external_id="hotline-77"))
    assert response.status_code == 202, response.text
    assert response.json()["duplicate"] is False
    assert event_count() == 1


# ---------------------------------------------------------------- accepted events


def test_valid_event_is_accepted_and_readable(client: TestClient) -> None:
    response = client.post("/api/events", json=valid_body(category_hint="fallen_tree",
                                                          address="Mill Street"))
    assert response.status_code == 202, response.text
    body = response.json()
    event_id = uuid.UUID(body["id"])
    assert body["duplicate"] is False
    assert body["links"]["self"] == f"/api/events/{event_id}"
    read = client.get(body["links"]["self"])
    assert read.status_code == 200, read.text
    event = read.json()
    assert event["id"] == str(event_id)
    assert event["district"] == "north_bank"  # located from lat/lon
    assert event["category_hint"] == "fallen_tree"
    assert event["status"] == "received"
    assert event["ticket_id"] is None


def test_address_locates_the_district_when_there_are_no_coordinates(client: TestClient) -> None:
    body = valid_body(address="12 Mill Street, Old Town")
    del body["lat"], body["lon"]
    response = client.post("/api/events", json=body)
    assert response.status_code == 202, response.text
    assert client.get(f"/api/events/{response.json()['id']}").json()["district"] == "old_town"


def test_same_external_id_is_one_event(client: TestClient) -> None:
    body = valid_body(external_id="hotline-4711")
    first = client.post("/api/events", json=body)
    assert first.status_code == 202, first.text
    assert first.json()["duplicate"] is False
    again = client.post("/api/events", json=body)
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    assert again.json()["id"] == first.json()["id"]
    assert event_count() == 1
    # another source with the same external id is another event
    other = client.post("/api/events", json={**body, "source": "open311"})
    assert other.status_code == 202
    assert other.json()["id"] != first.json()["id"]
    assert event_count() == 2


def test_same_idempotency_key_header_is_one_event(client: TestClient) -> None:
    headers = {"Idempotency-Key": "key-1234"}
    first = client.post("/api/events", json=valid_body(), headers=headers)
    again = client.post("/api/events", json=valid_body(), headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["duplicate"] is True
    assert event_count() == 1


def test_valid_png_is_accepted(client: TestClient) -> None:
    image = png_bytes()
    response = client.post("/api/events",
                           json=valid_body(image_base64=base64.b64encode(image).decode()))
    assert response.status_code == 202, response.text
    rows = event_rows()
    assert len(rows) == 1
    with get_runtime().factory() as db:
        stored = db.get(Event, rows[0].id)
        assert stored is not None
        assert stored.image_content_type == "image/png"
        assert stored.image == image


# ---------------------------------------------------------------- reading


def test_unknown_agency_filter_names_agency(client: TestClient) -> None:
    item = error_for(detail(client.get("/api/tickets", params={"agency": "nope"})), "agency")
    assert "nope" in item["message"]
    assert "sanitation" in item["message"]


def test_known_agency_filter_lists_nothing_yet(client: TestClient) -> None:
    response = client.get("/api/tickets", params={"agency": "sanitation"})
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None}


def test_bad_status_filter_names_status(client: TestClient) -> None:
    error_for(detail(client.get("/api/tickets", params={"status": "lost"})), "status")


def test_unknown_ticket_is_404(client: TestClient) -> None:
    response = client.get("/api/tickets/999999")
    assert response.status_code == 404
    assert "999999" in response.json()["detail"]


def test_unknown_event_is_404(client: TestClient) -> None:
    event_id = uuid.uuid4()
    response = client.get(f"/api/events/{event_id}")
    assert response.status_code == 404
    assert str(event_id) in response.json()["detail"]


def test_malformed_event_id_names_the_field(client: TestClient) -> None:
    error_for(detail(client.get("/api/events/not-a-uuid")), "event_id")


def test_unknown_action_names_the_field(client: TestClient) -> None:
    response = client.post("/api/tickets/1/fly", json={"actor": "dispatcher:ann"})
    item = error_for(detail(response), "action")
    assert "acknowledge" in item["message"]

"""One input policy on every surface: control characters, ids, dates, image sizes and
concurrent duplicates answer 4xx (or the first event), never 500 (issue 16)."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from api.app import create_app
from api.config import ApiConfig
from dispatch.core.db import transaction
from dispatch.core.runtime import get_runtime
from dispatch.intake.models import Event
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.tickets import make_ticket
from tests.helpers.webauth import login

HUGE_ID = "999999999999999999999999999999"


@pytest.fixture()
def client(migrated_db: str, broker_url: str, clean_state: None) -> Iterator[TestClient]:
    config = ApiConfig(dispatch=make_dispatch_config(migrated_db, broker_url, DOWN_LLM),
                       max_image_bytes=200_000, max_image_megapixels=40)
    with TestClient(create_app(config)) as test_client:
        login(test_client, "tester")
        yield test_client


def body(**changes: Any) -> dict[str, Any]:
    return {"source": "hotline", "description": "A tree fell across Mill Street.",
            "lat": 41.62, "lon": -93.65, **changes}


def refused(response: Any, field: str, status: int = 422) -> str:
    """The refusal's message: from the JSON answer, or from the error page a form gets
    (``<field>: <message>`` in English)."""
    assert response.status_code == status, response.text
    if response.headers["content-type"].startswith("text/html"):
        found = re.search(rf"{re.escape(field)}: ([^<]+)", response.text)
        assert found, response.text
        return html.unescape(found.group(1))
    items = response.json()["detail"]
    found = [item for item in items if item["field"] == field]
    assert found, items
    return str(found[0]["message"])


def event_count() -> int:
    with get_runtime().factory() as db:
        return int(db.scalar(select(func.count()).select_from(Event)) or 0)


@pytest.mark.parametrize(("changes", "field"), [
    ({"description": "a tree\u0000 fell"}, "description"),
    ({"address": "Mill\u0000 Street"}, "address"),
    ({"external_id": "ext\u0000id"}, "external_id"),
    ({"contact": {"name": "Jane\u0000"}}, "contact.name"),
    ({"description": "bell \u0007 rings here"}, "description"),
    ({"description": "lone \ud800 surrogate"}, "description"),
])
def test_control_characters_in_an_event_are_refused_naming_the_field(
        client: TestClient, changes: dict[str, Any], field: str) -> None:
    # json.dumps writes the lone surrogate as the escape "\\ud800", as a client might
    response = client.post("/api/events", content=json.dumps(body(**changes)),
                           headers={"content-type": "application/json"})
    message = refused(response, field)
    assert "control character" in message or "surrogate" in message
    assert event_count() == 0


def test_control_characters_elsewhere_are_refused(client: TestClient) -> None:
    assert "control" in refused(client.post("/api/hotline/messages", json={"text": "hi\u0000"}),
                                "text")
    assert "control" in refused(client.get("/inbox?q=%00"), "q")
    ticket_id = make_ticket(client, "A large tree fell on Mill Street")
    comment = client.post(f"/tickets/{ticket_id}/comments", data={"note": "a\u0000b"},
                          follow_redirects=False)
    assert "control" in refused(comment, "note")
    assert client.get(f"/tickets/{ticket_id}").text.count("a\u0000b") == 0


def test_tabs_and_newlines_are_still_text(client: TestClient) -> None:
    response = client.post("/api/events", json=body(description="line one\n\tline two\r\n"))
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("path", [f"/api/tickets/{HUGE_ID}", f"/tickets/{HUGE_ID}",
                                  f"/api/dead-letters/{HUGE_ID}", f"/api/documents/{HUGE_ID}",
                                  f"/api/tickets?cursor={HUGE_ID}", f"/inbox/rows?cursor={HUGE_ID}"])
def test_ids_past_bigint_are_refused_not_500(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code in (404, 422), response.text
    assert "9223372036854775807" in response.text


def test_a_huge_id_in_a_bulk_form_is_refused(client: TestClient) -> None:
    response = client.post("/inbox/acknowledge", data={"ticket_id": [HUGE_ID]},
                           follow_redirects=False)
    assert "9223372036854775807" in refused(response, "ticket_id")


def test_a_digit_only_password_or_note_is_text_not_an_id(client: TestClient) -> None:
    ticket_id = make_ticket(client, "A large tree fell on Mill Street")
    response = client.post(f"/tickets/{ticket_id}/comments", data={"note": HUGE_ID},
                           follow_redirects=False)
    assert response.status_code == 303, response.text


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "1989-12-31T23:59:59Z",
                                    "9999-12-31T23:59:59-14:00"])
def test_dates_outside_1990_to_tomorrow_are_refused_with_the_range(client: TestClient,
                                                                    moment: str) -> None:
    message = refused(client.post("/api/events", json=body(occurred_at=moment)), "occurred_at")
    assert "1990-01-01" in message
    assert event_count() == 0


def test_the_database_refuses_a_year_1_date_from_any_writer(client: TestClient) -> None:
    """A row psycopg could not read back would be poison for every reader and worker."""
    with pytest.raises(IntegrityError, match="ck_events_occurred_at_sane"):
        with transaction(get_runtime().factory) as db:
            db.execute(text("INSERT INTO events (id, source, description, status, flags, "
                            "occurred_at) VALUES (gen_random_uuid(), 'x', 'y', 'received', "
                            "'[]', '0001-01-01T00:00:00+14:00')"))


def test_a_date_in_range_is_stored_and_readable(client: TestClient) -> None:
    response = client.post("/api/events", json=body(occurred_at="1990-01-02T00:00:00Z"))
    assert response.status_code == 202, response.text
    read = client.get(f"/api/events/{response.json()['id']}")
    assert read.status_code == 200 and read.json()["occurred_at"].startswith("1990-01-02")


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (and holds almost no data)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize(("width", "height"), [(30000, 30000), (12000, 12000), (8000, 5001)])
def test_images_over_the_pixel_limit_are_refused_from_the_header(
        client: TestClient, width: int, height: int) -> None:
    image = base64.b64encode(png_header(width, height)).decode()
    message = refused(client.post("/api/events", json=body(image_base64=image)), "image_base64")
    assert "40 megapixels" in message
    assert event_count() == 0


def test_an_image_under_the_limit_is_accepted(client: TestClient) -> None:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(out, format="PNG")
    response = client.post("/api/events",
                           json=body(image_base64=base64.b64encode(out.getvalue()).decode()))
    assert response.status_code == 202, response.text


def post_at_once(client: TestClient, key: str, n: int = 8) -> list[tuple[int, str]]:
    """``n`` POSTs with one Idempotency-Key, released together."""
    answers: list[tuple[int, str]] = []
    start = threading.Barrier(n)

    def post() -> None:
        start.wait()
        response = client.post("/api/events", json=body(), headers={"Idempotency-Key": key})
        answers.append((response.status_code, response.json().get("id", response.text)))

    threads = [threading.Thread(target=post) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_concurrent_posts_with_one_idempotency_key_all_answer_the_first_id(
        client: TestClient) -> None:
    for round_ in range(5):
        answers = post_at_once(client, f"race-{round_}")
        statuses = sorted(status for status, _ in answers)
        assert statuses == [200] * 7 + [202], answers
        assert len({event_id for _, event_id in answers}) == 1, answers
    assert event_count() == 5

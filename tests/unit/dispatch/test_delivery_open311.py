"""The Open311 forward against a real local HTTP server; e-mail subjects stay one line."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest

from dispatch.delivery import (
    Open311Channel,
    PermanentDeliveryError,
    TicketMessage,
    TransientDeliveryError,
)
from dispatch.delivery.email import compose
from tests.helpers.receivers import HttpReceiver, serve_http

MESSAGE = TicketMessage(
    idempotency_key="ticket-7-open311-1", ticket_id=7, reference="2026-00007", routing_seq=1,
    agency="sanitation", category="exposed_garbage", priority="medium",
    title="Garbage bags on Main St", description="Six bags by the bus stop.",
    lat=41.61, lon=-93.62, address="12 Main St", service_code="RT-003")


@pytest.fixture()
def http() -> Iterator[HttpReceiver]:
    state, stop = serve_http()
    yield state
    stop()


def test_forward_posts_georeport_fields_and_keeps_their_id(http: HttpReceiver) -> None:
    http.statuses["/requests.json"] = [201]
    ref = Open311Channel(url=f"{http.url}/requests.json", api_key="k1").send(MESSAGE)
    [sent] = http.on("/requests.json")
    form = {k: v[0] for k, v in parse_qs(sent.body.decode()).items()}
    assert form == {"api_key": "k1", "service_code": "RT-003", "lat": "41.610000",
                    "long": "-93.620000", "address_string": "12 Main St",
                    "description": "[2026-00007] Garbage bags on Main St\n\nSix bags by the bus stop."}
    assert sent.headers["Idempotency-Key"] == "ticket-7-open311-1"
    assert ref == "their-1"


@pytest.mark.parametrize(("status", "error"), [(400, PermanentDeliveryError),
                                               (503, TransientDeliveryError),
                                               (301, PermanentDeliveryError)])  # a redirect is not a delivery
def test_error_answers_are_classified(http: HttpReceiver, status: int,
                                      error: type[Exception]) -> None:
    http.statuses["/requests.json"] = [status]
    with pytest.raises(error, match=f"HTTP {status}"):
        Open311Channel(url=f"{http.url}/requests.json", api_key="k1").send(MESSAGE)


def test_a_ticket_without_location_or_service_code_is_refused_before_sending(
        http: HttpReceiver) -> None:
    channel = Open311Channel(url=f"{http.url}/requests.json", api_key="k1")
    nowhere = MESSAGE.model_copy(update={"lat": None, "lon": None, "address": None})
    with pytest.raises(PermanentDeliveryError, match="neither coordinates nor an address"):
        channel.send(nowhere)
    with pytest.raises(PermanentDeliveryError, match="no service code"):
        channel.send(MESSAGE.model_copy(update={"service_code": None}))
    assert http.received == []


def test_an_email_subject_cannot_gain_headers_from_the_title() -> None:
    hostile = MESSAGE.model_copy(update={"title": "Trash\r\nBcc: victim@example.com"})
    mail = compose(hostile, sender="a@b.example", recipient="c@d.example")
    assert mail["Subject"] == "[2026-00007] Trash Bcc: victim@example.com"
    assert mail["Bcc"] is None

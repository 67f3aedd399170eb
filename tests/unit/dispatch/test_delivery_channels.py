"""Webhook and e-mail channels against a real local HTTP server and a real SMTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from aiosmtpd.controller import Controller

from cityloop.localservices import free_port
from dispatch.delivery import (
    SIGNATURE_HEADER,
    EmailChannel,
    PermanentDeliveryError,
    SmtpConfig,
    TicketMessage,
    TransientDeliveryError,
    WebhookChannel,
)

SECRET = b"s3cret"
MESSAGE = TicketMessage(
    idempotency_key=TicketMessage.key_for(ticket_id=7, channel="webhook", routing_seq=1),
    ticket_id=7, reference="2026-00007", routing_seq=1, agency="sanitation",
    category="exposed_garbage", priority="medium", title="Garbage bags on Main St",
)


class Receiver(BaseHTTPRequestHandler):
    status = 204
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    handler = type("TestReceiver", (Receiver,), {"received": [], "status": 204})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()
    thread.join()


def test_webhook_body_is_signed_with_hmac_sha256(receiver: tuple[str, type[Receiver]]) -> None:
    url, handler = receiver
    WebhookChannel(url=url, secret=SECRET, timeout_s=5).send(MESSAGE)

    [(headers, body)] = handler.received
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == expected
    assert headers["Idempotency-Key"] == "ticket-7-webhook-1"
    assert json.loads(body)["reference"] == "2026-00007"


@pytest.mark.parametrize(("status", "error"), [
    (503, TransientDeliveryError), (429, TransientDeliveryError), (404, PermanentDeliveryError),
    # httpx does not follow redirects: a 3xx delivered nothing and must not count as sent
    (302, PermanentDeliveryError), (307, PermanentDeliveryError),
])
def test_webhook_error_answers_are_classified(
    receiver: tuple[str, type[Receiver]], status: int, error: type[Exception]
) -> None:
    url, handler = receiver
    handler.status = status
    with pytest.raises(error, match=f"HTTP {status}"):
        WebhookChannel(url=url, secret=SECRET, timeout_s=5).send(MESSAGE)


def test_webhook_unreachable_is_transient() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    with pytest.raises(TransientDeliveryError, match="ConnectError"):
        WebhookChannel(url=url, secret=SECRET, timeout_s=2).send(MESSAGE)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"


def test_email_arrives_with_the_ticket_and_its_idempotency_key() -> None:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channel = EmailChannel(config=SmtpConfig(port=port, sender="loop@city.example"),
                               recipient="desk@sanitation.example")
        channel.send(MESSAGE)
    finally:
        controller.stop()

    [raw] = inbox.messages
    mail = message_from_bytes(raw)
    assert mail["To"] == "desk@sanitation.example"
    assert mail["Subject"] == "[2026-00007] Garbage bags on Main St"
    assert mail["Message-ID"] == "<ticket-7-webhook-1@cityloop>"
    assert "Priority: medium" in mail.get_payload()


def test_email_server_down_is_transient() -> None:
    channel = EmailChannel(config=SmtpConfig(port=free_port(), timeout_s=2),
                           recipient="desk@sanitation.example")
    with pytest.raises(TransientDeliveryError):
        channel.send(MESSAGE)

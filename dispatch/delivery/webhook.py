"""Webhook channel: a JSON POST signed with HMAC-SHA256 over the exact body bytes."""

from __future__ import annotations

import hashlib
import hmac

import httpx

from dispatch.delivery.base import PermanentDeliveryError, TicketMessage, TransientDeliveryError

SIGNATURE_HEADER = "X-CityLoop-Signature"
_RETRYABLE_STATUS = frozenset({408, 425, 429})


def sign(body: bytes, secret: bytes) -> str:
    """The signature header's value: ``sha256=<hex HMAC of the body>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookChannel:
    name = "webhook"

    def __init__(self, *, url: str, secret: bytes, timeout_s: float = 10.0) -> None:
        if not secret:
            raise PermanentDeliveryError(f"webhook {url}: empty signing secret")
        self.url = url
        self._secret = secret
        self.timeout_s = timeout_s

    def send(self, message: TicketMessage) -> None:
        body = message.model_dump_json().encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, self._secret),
            "Idempotency-Key": message.idempotency_key,
        }
        try:
            response = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as exc:  # timeouts, refused connections, protocol errors
            raise TransientDeliveryError(f"webhook {self.url}: {type(exc).__name__}") from exc
        status = response.status_code
        if status >= 500 or status in _RETRYABLE_STATUS:
            raise TransientDeliveryError(f"webhook {self.url}: HTTP {status}")
        if status >= 300:  # httpx does not follow redirects: a 3xx delivered nothing
            raise PermanentDeliveryError(f"webhook {self.url}: HTTP {status}")

"""Open311 channel: forward the ticket to the agency's own GeoReport v2 server.

One ``POST {url}`` (the server's ``requests.json``) with the form fields of GeoReport v2
(``api_key``, ``service_code``, ``lat``/``long`` or ``address_string``, ``description``);
the server's ``service_request_id`` (or ``token``) is kept as the delivery's reference.
"""

from __future__ import annotations

import httpx

from dispatch.delivery.base import PermanentDeliveryError, TicketMessage, TransientDeliveryError

_RETRYABLE_STATUS = frozenset({408, 425, 429})
MAX_DESCRIPTION = 4000


def form_for(message: TicketMessage, *, api_key: str) -> dict[str, str]:
    if not message.service_code:
        raise PermanentDeliveryError(f"open311: no service code for category {message.category!r}")
    form = {"api_key": api_key, "service_code": message.service_code,
            "description": (f"[{message.reference}] {message.title}\n\n"
                            f"{message.description or ''}").strip()[:MAX_DESCRIPTION]}
    if message.lat is not None and message.lon is not None:
        form |= {"lat": f"{message.lat:.6f}", "long": f"{message.lon:.6f}"}
    elif message.address:
        form["address_string"] = message.address
    else:
        raise PermanentDeliveryError("open311: the ticket has neither coordinates nor an address")
    if message.address:
        form["address_string"] = message.address
    return form


def _reference(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    first = body[0] if isinstance(body, list) and body else body
    if not isinstance(first, dict):
        return None
    ref = first.get("service_request_id") or first.get("token")
    return str(ref)[:200] if ref is not None else None


class Open311Channel:
    name = "open311"

    def __init__(self, *, url: str, api_key: str, timeout_s: float = 10.0) -> None:
        if not api_key:
            raise PermanentDeliveryError(f"open311 {url}: empty api_key")
        self.url = url
        self._api_key = api_key
        self.timeout_s = timeout_s

    def send(self, message: TicketMessage) -> str | None:
        form = form_for(message, api_key=self._api_key)
        headers = {"Idempotency-Key": message.idempotency_key}
        try:
            response = httpx.post(self.url, data=form, headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"open311 {self.url}: {type(exc).__name__}") from exc
        status = response.status_code
        if status >= 500 or status in _RETRYABLE_STATUS:
            raise TransientDeliveryError(f"open311 {self.url}: HTTP {status}")
        if status >= 300:  # httpx does not follow redirects: a 3xx delivered nothing
            raise PermanentDeliveryError(f"open311 {self.url}: HTTP {status} {response.text[:200]}")
        return _reference(response)

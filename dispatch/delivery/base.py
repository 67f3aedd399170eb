"""The seam every delivery channel implements, and what it is handed."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel


class TicketMessage(BaseModel):
    """What an agency receives about a ticket. ``idempotency_key`` is the same on every
    retry of one delivery (ticket, channel, routing), so a receiver can drop repeats."""

    idempotency_key: str
    ticket_id: int
    reference: str
    routing_seq: int
    agency: str
    category: str
    priority: str
    title: str
    district: str | None = None
    url: str | None = None
    description: str | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    service_code: str | None = None
    # set on a notice about the ticket rather than the ticket itself (an SLA escalation)
    notice: str | None = None
    status: str | None = None  # the ticket's status when the message was made

    @staticmethod
    def key_for(*, ticket_id: int, channel: str, routing_seq: int) -> str:
        return f"ticket-{ticket_id}-{channel}-{routing_seq}"


class DeliveryFailed(Exception):
    """A channel could not deliver; the message says where and why."""


class TransientDeliveryError(DeliveryFailed):
    """Worth retrying: a timeout, a refused connection, a 5xx or 429 answer."""


class PermanentDeliveryError(DeliveryFailed):
    """Retrying will not help: a 4xx answer, a rejected recipient, a missing secret."""


class Channel(Protocol):
    name: str

    def send(self, message: TicketMessage) -> str | None:
        """Deliver once or raise ``TransientDeliveryError`` / ``PermanentDeliveryError``.
        Returns the receiver's reference for what it got, when it gives one."""

"""Delivery channels: how a routed ticket reaches an agency outside CityLoop.

One file per channel, each implementing ``Channel`` from ``base``; registered by name in
``registry.build_channel`` rather than discovered by import. ``outbox`` keeps one row per
delivery (claimed before the send, marked after, dead-lettered after the last try);
``dead_letters`` is what operators see and retry.
"""

from dispatch.delivery.base import (
    Channel,
    DeliveryFailed,
    PermanentDeliveryError,
    TicketMessage,
    TransientDeliveryError,
)
from dispatch.delivery.email import EmailChannel, SmtpConfig
from dispatch.delivery.open311 import Open311Channel
from dispatch.delivery.webhook import SIGNATURE_HEADER, WebhookChannel, sign

__all__ = [
    "SIGNATURE_HEADER",
    "Channel",
    "DeliveryFailed",
    "EmailChannel",
    "Open311Channel",
    "PermanentDeliveryError",
    "SmtpConfig",
    "TicketMessage",
    "TransientDeliveryError",
    "WebhookChannel",
    "sign",
]

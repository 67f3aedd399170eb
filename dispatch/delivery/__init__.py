"""Delivery channels: how a routed ticket reaches an agency outside CityLoop.

One file per channel, each implementing ``Channel`` from ``base``; registered by name in
``build_channels`` rather than discovered by import.
"""

from dispatch.delivery.base import (
    Channel,
    DeliveryFailed,
    PermanentDeliveryError,
    TicketMessage,
    TransientDeliveryError,
)
from dispatch.delivery.email import EmailChannel, SmtpConfig
from dispatch.delivery.webhook import SIGNATURE_HEADER, WebhookChannel, sign

__all__ = [
    "SIGNATURE_HEADER",
    "Channel",
    "DeliveryFailed",
    "EmailChannel",
    "PermanentDeliveryError",
    "SmtpConfig",
    "TicketMessage",
    "TransientDeliveryError",
    "WebhookChannel",
    "sign",
]

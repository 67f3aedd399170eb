"""Which channels an agency has, and how one is built from the city file.

Registered by name here, explicitly: ``webhook``, ``email``, ``open311``, ``mqtt`` (the
city's MQTT broker, for every agency, when the city file has ``mqtt:``), and
``escalation-<level>`` (an e-mail to the agency's supervisor about an overdue ticket).
Secrets are read from the environment mapping the caller hands in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from dispatch.city.config import Agency, CityConfig
from dispatch.city.handling import SmtpSettings
from dispatch.delivery.base import Channel, PermanentDeliveryError
from dispatch.delivery.email import EmailChannel, SmtpConfig
from dispatch.delivery.mqtt import MqttChannel
from dispatch.delivery.open311 import Open311Channel
from dispatch.delivery.webhook import WebhookChannel

ESCALATION_PREFIX = "escalation-"
CHANGE_PREFIX = "mqtt-change-"
"""A ticket's state published on MQTT after the change numbered so in its history."""


def change_channel(number: int) -> str:
    return f"{CHANGE_PREFIX}{number}"


def escalation_channel(level: int) -> str:
    return f"{ESCALATION_PREFIX}{level}"


def escalation_level(channel: str) -> int | None:
    if channel.startswith(ESCALATION_PREFIX) and channel[len(ESCALATION_PREFIX):].isdigit():
        return int(channel[len(ESCALATION_PREFIX):])
    return None


def channels_of(city: CityConfig, agency: Agency) -> list[str]:
    """The agency's outside channels, in the order they are sent (the inbox is implicit)."""
    names = []
    if agency.webhook is not None:
        names.append("webhook")
    if agency.email and city.smtp_for(agency) is not None:
        names.append("email")
    if agency.open311 is not None:
        names.append("open311")
    if city.mqtt is not None:
        names.append("mqtt")
    return names


MAX_TIMEOUT_S = 120.0  # the largest timeout a channel may be given in the city file


def channel_timeout_s(city: CityConfig, agency_code: str, channel: str) -> float:
    """The timeout one send on the channel is given, as configured now (the largest allowed
    when the channel is no longer configured)."""
    agency = city.agency(agency_code)
    smtp = city.smtp_for(agency) if agency is not None else None
    if agency is None:
        return MAX_TIMEOUT_S
    if channel == "webhook" and agency.webhook is not None:
        return agency.webhook.timeout_s
    if channel == "open311" and agency.open311 is not None:
        return agency.open311.timeout_s
    if (channel == "email" or escalation_level(channel) is not None) and smtp is not None:
        return smtp.timeout_s
    if (channel == "mqtt" or channel.startswith(CHANGE_PREFIX)) and city.mqtt is not None:
        return city.mqtt.timeout_s
    return MAX_TIMEOUT_S


MAIL_LEASE = timedelta(minutes=5)


def claim_lease(city: CityConfig, agency_code: str, channel: str) -> timedelta:
    """How long a claim on one send holds: past it, the worker is taken for dead and the sweep
    sends again. Three times the channel's timeout (a connection, the request, the answer)
    and 15 s more; a worker SIGKILLed mid-send holds its webhook (10 s) for 45 s, not 5 min.
    E-mail holds at least 5 min: SMTP's timeout bounds each of its many steps, not the send,
    and a mailbox does not drop a repeated message the way a receiver drops a repeated key."""
    lease = timedelta(seconds=3 * channel_timeout_s(city, agency_code, channel) + 15)
    if channel == "email" or escalation_level(channel) is not None:
        return max(lease, MAIL_LEASE)
    return lease


def supervisors_by_email(city: CityConfig, agency: Agency) -> list[str]:
    """Supervisor addresses that can be e-mailed: the agency needs SMTP settings."""
    if agency.supervisor_email and city.smtp_for(agency) is not None:
        return [agency.supervisor_email]
    return []


def _secret(env: Mapping[str, str], name: str | None, what: str) -> str:
    if name is None:
        return ""
    value = env.get(name, "")
    if not value:
        raise PermanentDeliveryError(f"{what}: environment variable {name} is not set")
    return value


def _smtp(settings: SmtpSettings, env: Mapping[str, str]) -> SmtpConfig:
    return SmtpConfig(host=settings.host, port=settings.port, sender=settings.sender,
                      username=settings.username, starttls=settings.starttls,
                      timeout_s=settings.timeout_s,
                      password=_secret(env, settings.password_env, "smtp password"))


def build_channel(city: CityConfig, agency: Agency, channel: str,
                  env: Mapping[str, str]) -> Channel:
    """The channel as configured now; PermanentDeliveryError when it no longer is."""
    smtp = city.smtp_for(agency)
    if channel == "webhook" and agency.webhook is not None:
        hook = agency.webhook
        secret = _secret(env, hook.secret_env, f"webhook of {agency.code}")
        return WebhookChannel(url=hook.url, secret=secret.encode(), timeout_s=hook.timeout_s)
    if channel == "email" and agency.email and smtp is not None:
        return EmailChannel(config=_smtp(smtp, env), recipient=agency.email, city=city)
    if channel == "open311" and agency.open311 is not None:
        target = agency.open311
        key = _secret(env, target.api_key_env, f"open311 of {agency.code}")
        return Open311Channel(url=target.url, api_key=key, timeout_s=target.timeout_s)
    if (channel == "mqtt" or channel.startswith(CHANGE_PREFIX)) and city.mqtt is not None:
        from dispatch.core import mqtt

        settings = city.mqtt
        try:
            to = mqtt.target(settings.url, username_env=settings.username_env,
                             password_env=settings.password_env, env=env)
        except mqtt.MqttConfigError as exc:
            raise PermanentDeliveryError(f"mqtt of {agency.code}: {exc}") from None
        return MqttChannel(to=to, topic_prefix=settings.tickets_topic, timeout_s=settings.timeout_s)
    if escalation_level(channel) is not None and smtp is not None and agency.supervisor_email:
        return EmailChannel(config=_smtp(smtp, env), recipient=agency.supervisor_email, city=city)
    raise PermanentDeliveryError(f"channel {channel!r} is not configured for agency {agency.code!r}")

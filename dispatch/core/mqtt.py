"""Connecting to an MQTT broker (paho-mqtt 2): one URL form, credentials from the environment.

``mqtt://host:1883`` or ``mqtts://host:8883`` (TLS); the user name and password come from the
environment variables the city file names, never from the file itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class MqttConfigError(ValueError):
    """The URL or the credentials cannot be used."""


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None


def target(url: str, *, username_env: str | None = None, password_env: str | None = None,
           env: Mapping[str, str]) -> MqttTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise MqttConfigError(f"{url!r}: expected mqtt://host[:port] or mqtts://host[:port]")
    tls = parts.scheme == "mqtts"
    names = [n for n in (username_env, password_env) if n]
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise MqttConfigError(f"MQTT credentials: environment variable {', '.join(missing)} is not set")
    return MqttTarget(host=parts.hostname, port=parts.port or (8883 if tls else 1883), tls=tls,
                      username=env.get(username_env) if username_env else None,
                      password=env.get(password_env) if password_env else None)


def client(to: MqttTarget, *, client_id: str, clean_session: bool, manual_ack: bool = False) -> mqtt.Client:
    """A paho client for ``to`` (not yet connected). ``clean_session=False`` keeps the
    subscription and queues QoS 1 messages at the broker while the client is away."""
    made = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session,
                       manual_ack=manual_ack)
    if to.username is not None:
        made.username_pw_set(to.username, to.password)
    if to.tls:
        made.tls_set()
    return made

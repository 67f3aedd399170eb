"""MQTT channel: a ticket's routing published for other systems (a city's dashboards, Home
Assistant, Node-RED) on ``<topic>/<agency>/<ticket id>``, retained, QoS 1.

Retained, so a subscriber that connects later gets each ticket's latest routing; the body is
the same ``TicketMessage`` a webhook gets, idempotency key included, so a repeat after a
retried send is recognisable. One short connection per send, closed when the broker has
acknowledged the message (PUBACK) or the timeout has passed.
"""

from __future__ import annotations

import os
import uuid

from dispatch.core.mqtt import MqttTarget, client
from dispatch.delivery.base import TicketMessage, TransientDeliveryError


def ticket_topic(prefix: str, *, agency: str, ticket_id: int) -> str:
    return f"{prefix.rstrip('/')}/{agency}/{ticket_id}"


class MqttChannel:
    name = "mqtt"

    def __init__(self, *, to: MqttTarget, topic_prefix: str, timeout_s: float = 10.0) -> None:
        self.to = to
        self.topic_prefix = topic_prefix
        self.timeout_s = timeout_s

    def send(self, message: TicketMessage) -> str:
        topic = ticket_topic(self.topic_prefix, agency=message.agency, ticket_id=message.ticket_id)
        mqttc = client(self.to, client_id=f"cityloop-{os.getpid()}-{uuid.uuid4().hex[:8]}", clean_session=True)
        try:
            mqttc.connect(self.to.host, self.to.port, keepalive=30)
            mqttc.loop_start()
            info = mqttc.publish(topic, message.model_dump_json().encode(), qos=1, retain=True)
            info.wait_for_publish(timeout=self.timeout_s)
            if not info.is_published():
                raise TransientDeliveryError(f"mqtt {self.to.host}:{self.to.port}: no PUBACK for {topic} "
                                             f"within {self.timeout_s:.0f} s")
        except (OSError, ValueError, RuntimeError) as exc:  # refused, reset, not connected in time
            raise TransientDeliveryError(f"mqtt {self.to.host}:{self.to.port}: {type(exc).__name__}: {exc}") from exc
        finally:
            mqttc.disconnect()
            mqttc.loop_stop()
        return topic

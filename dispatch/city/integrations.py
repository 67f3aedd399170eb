"""The city's MQTT integrations, in the city file: an MQTT broker that ticket routings are
published to (``mqtt:``), and Frigate NVRs whose object events become camera events
(``frigate:``). Both optional; a city file without them loads as before."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from dispatch.city.config import CityConfig

MQTT_URL = r"^mqtts?://\S+$"
TOPIC = r"^[^#+\s]{1,200}$"  # a topic level prefix, no wildcards


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSettings(_Strict):
    """Where ticket changes go: ``<tickets_topic>/<agency>/<ticket id>``, retained, QoS 1."""

    url: str = Field(default="mqtt://127.0.0.1:1883", pattern=MQTT_URL)
    username_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,100}$")
    password_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,100}$")
    tickets_topic: str = Field(default="cityloop/tickets", pattern=TOPIC)
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class FrigateSettings(_Strict):
    """A Frigate NVR's ``<topic_prefix>/events``: each object on a mapped camera with a mapped
    label becomes one CityLoop camera event (``dispatch.cameras.frigate``)."""

    url: str = Field(default="mqtt://127.0.0.1:1883", pattern=MQTT_URL)
    username_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,100}$")
    password_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,100}$")
    topic_prefix: str = Field(default="frigate", pattern=TOPIC)
    client_id: str = Field(default="cityloop-frigate", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    cameras: dict[str, str] = Field(min_length=1)  # Frigate camera name -> CityLoop camera id
    labels: dict[str, str] = Field(min_length=1)  # Frigate label -> category code
    # Frigate's HTTP API (http://frigate:5000): the event's snapshot.jpg is fetched from it
    api_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    min_score: float = Field(default=0.0, ge=0, le=1)  # on the event's top_score
    snapshot_timeout_s: float = Field(default=10.0, gt=0, le=120)


def check_integrations(cfg: CityConfig) -> list[str]:
    """The Frigate maps name known cameras and categories."""
    if cfg.frigate is None:
        return []
    problems = [f"frigate.cameras.{name}: unknown camera {camera!r} (not in 'cameras:')"
                for name, camera in sorted(cfg.frigate.cameras.items()) if cfg.camera(camera) is None]
    problems += [f"frigate.labels.{label}: unknown category {code!r}"
                 for label, code in sorted(cfg.frigate.labels.items()) if cfg.category(code) is None]
    return problems

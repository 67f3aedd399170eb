"""Frigate NVR events in: ``<prefix>/events`` over MQTT, each tracked object one camera event.

Frigate publishes a JSON message per change of a tracked object: ``{"type": "new" | "update" |
"end", "before": {...}, "after": {...}}``, where ``after`` holds the object now (``id``,
``camera``, ``label``, ``top_score``, ``box``, ``current_zones``, ``has_snapshot``,
``false_positive``, ...). An object on a camera the city file maps, with a label it maps to a
category, scoring at least ``min_score`` and not a false positive, enters the loop through
the camera intake (``dispatch.intake.camera.submit``), the same ``create_event`` as
``POST /api/events``: the first message creates the event, later ones only refresh it.

The event is keyed by Frigate's event id (``camera:<camera>:frigate-<id>:0``), so a message
delivered twice, a retained or replayed one, or the same stream after a restart of the bridge
makes nothing new. The bridge keeps a persistent MQTT session (``clean_session=False``,
QoS 1): what Frigate publishes while the bridge is away waits at the broker, and a message is
acknowledged only once its event is committed.

With ``api_url`` set, an object's snapshot is fetched from Frigate
(``/api/events/<id>/snapshot.jpg``) once Frigate has one (``has_snapshot``); the event waits
for it unless the object ends first.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import paho.mqtt.client as paho
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dispatch.city.config import CityConfig
from dispatch.city.integrations import FrigateSettings
from dispatch.core.db import transaction
from dispatch.core.errors import InvalidField
from dispatch.core.inputs import moment_problem
from dispatch.core.mqtt import client, target
from dispatch.intake import camera as camera_intake
from dispatch.intake.flows import queue_understanding
from dispatch.intake.models import Event

log = logging.getLogger(__name__)
RUN_PREFIX = "frigate-"


class FrigateObject(BaseModel):
    """The part of Frigate's tracked object the bridge reads (Frigate sends more)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=100)
    camera: str
    label: str
    sub_label: Any = None
    top_score: float = 0.0
    score: float = 0.0
    box: list[float] | None = None
    current_zones: list[str] = Field(default_factory=list)
    entered_zones: list[str] = Field(default_factory=list)
    has_snapshot: bool = False
    has_clip: bool = False
    start_time: float | None = None  # Unix seconds: when Frigate first saw the object
    end_time: float | None = None
    false_positive: bool = False
    stationary: bool = False


class FrigateMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["new", "update", "end"]
    before: FrigateObject | None = None
    after: FrigateObject


@dataclass(frozen=True)
class FrigateTrack:
    """A Frigate object as the camera intake reads a track (``camera.TrackEvent``)."""

    camera_id: str
    kind: str
    category: str
    zone: str | None
    box: list[float]
    scores: dict[str, float]
    snapshot_jpeg: bytes | None
    track_id: int = 0  # the Frigate id is the run: one object, one "track"
    frame_size: tuple[int, int] | None = None


Outcome = Literal["created", "refreshed", "ignored", "waiting"]


@dataclass
class Handled:
    outcome: Outcome
    reason: str = ""
    event_id: str | None = None


SnapshotFetcher = Callable[[str], bytes | None]


def frigate_event_key(camera_id: str, frigate_id: str) -> str:
    return camera_intake.idempotency_key(camera_id, RUN_PREFIX + frigate_id, 0)


def _ignored(message: FrigateMessage, settings: FrigateSettings) -> str:
    """Why the bridge leaves this object alone ('' when it does not)."""
    obj = message.after
    if obj.camera not in settings.cameras:
        return f"camera {obj.camera!r} is not mapped"
    if obj.label not in settings.labels:
        return f"label {obj.label!r} is not mapped"
    if obj.false_positive:
        return "Frigate marks it a false positive"
    if obj.top_score < settings.min_score:
        return f"top score {obj.top_score:.2f} under {settings.min_score:.2f}"
    return ""


def _box(obj: FrigateObject) -> list[float]:
    if obj.box is not None and len(obj.box) == 4:
        return [float(v) for v in obj.box]
    return [0.0, 0.0, 0.0, 0.0]


def _started(obj: FrigateObject) -> datetime | None:
    """When Frigate first saw the object; None (the arrival time) when absent, later than now or
    before 1990 (a camera clock running fast, or reset to 1970, must not get its event refused)."""
    if not obj.start_time or obj.start_time <= 0:
        return None
    try:
        started = datetime.fromtimestamp(obj.start_time, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return started if started <= datetime.now(UTC) and moment_problem(started) is None else None


def handle_message(
    *, factory: sessionmaker[Session], city: CityConfig, settings: FrigateSettings, payload: bytes | bytearray,
    snapshot: SnapshotFetcher | None, max_image_bytes: int,
) -> Handled:
    """One ``frigate/events`` message: create or refresh its camera event, queue a new one."""
    try:
        message = FrigateMessage.model_validate(json.loads(payload))
    except (ValueError, ValidationError) as exc:
        return Handled("ignored", f"not a Frigate event message: {str(exc)[:200]}")
    why = _ignored(message, settings)
    if why:
        return Handled("ignored", why)
    obj = message.after
    if snapshot is not None and not obj.has_snapshot and message.type != "end":
        return Handled("waiting", "no snapshot yet")
    image = snapshot(obj.id) if snapshot is not None and obj.has_snapshot else None
    track = FrigateTrack(
        camera_id=settings.cameras[obj.camera], kind=message.type, category=settings.labels[obj.label],
        zone=next(iter(obj.current_zones or obj.entered_zones), None), box=_box(obj),
        scores={"detector": obj.top_score}, snapshot_jpeg=image)
    try:
        with transaction(factory) as db:
            result = camera_intake.submit(db_session=db, city=city, event=track, run_id=RUN_PREFIX + obj.id,
                                          max_image_bytes=max_image_bytes, seen_at=_started(obj))
            stored = db.get(Event, result.event_id) if result.created else None
            if stored is not None:
                db.expunge(stored)
    except InvalidField as exc:
        return Handled("ignored", f"{exc.field}: {exc.message}")
    except ValidationError as exc:  # a value the event schema refuses: said, never a crashed bridge
        return Handled("ignored", f"not a storable event: {str(exc)[:200]}")
    if stored is not None:
        queue_understanding(stored)
        return Handled("created", event_id=result.event_id)
    return Handled("refreshed", event_id=result.event_id)


def snapshot_fetcher(api_url: str, *, timeout_s: float, max_bytes: int) -> SnapshotFetcher:
    """GET ``<api_url>/api/events/<id>/snapshot.jpg``; None (and a warning) when it fails."""

    def fetch(frigate_id: str) -> bytes | None:
        url = f"{api_url.rstrip('/')}/api/events/{frigate_id}/snapshot.jpg"
        try:
            reply = httpx.get(url, timeout=timeout_s)
            reply.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("frigate snapshot %s: %s", url, exc)
            return None
        if len(reply.content) > max_bytes or not reply.content.startswith(b"\xff\xd8"):
            log.warning("frigate snapshot %s: not a JPEG under %s bytes", url, max_bytes)
            return None
        return reply.content

    return fetch


@dataclass
class BridgeStats:
    received: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class FrigateBridge:
    """Subscribes to ``<prefix>/events`` and hands each message to ``handle_message``.

    A message is acknowledged after it is handled; when the database is away the bridge
    disconnects (the broker keeps the message) and connects again after ``retry_s``.
    """

    def __init__(self, *, factory: sessionmaker[Session], city: CityConfig, settings: FrigateSettings,
                 env: Mapping[str, str], max_image_bytes: int, retry_s: float = 5.0) -> None:
        self.factory, self.city, self.settings = factory, city, settings
        self.max_image_bytes, self.retry_s = max_image_bytes, retry_s
        self.to = target(settings.url, username_env=settings.username_env,
                         password_env=settings.password_env, env=env)
        self.topic = f"{settings.topic_prefix.rstrip('/')}/events"
        self.snapshot = (snapshot_fetcher(settings.api_url, timeout_s=settings.snapshot_timeout_s,
                                          max_bytes=max_image_bytes) if settings.api_url else None)
        self.stats = BridgeStats()
        self.subscribed = threading.Event()
        self._failed = threading.Event()
        self._client = client(self.to, client_id=settings.client_id, clean_session=False, manual_ack=True)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def _on_connect(self, mqttc: paho.Client, _: object, flags: Any, reason: Any, __: Any) -> None:
        if reason.is_failure:
            log.warning("frigate bridge: %s:%s refused the connection: %s", self.to.host, self.to.port, reason)
            return
        mqttc.subscribe(self.topic, qos=1)

    def _on_subscribe(self, *_: Any) -> None:
        log.info("frigate bridge: subscribed to %s on %s:%s", self.topic, self.to.host, self.to.port)
        self.subscribed.set()

    def _on_message(self, mqttc: paho.Client, _: object, message: paho.MQTTMessage) -> None:
        self.stats.received += 1
        try:
            handled = handle_message(factory=self.factory, city=self.city, settings=self.settings,
                                     payload=message.payload, snapshot=self.snapshot,
                                     max_image_bytes=self.max_image_bytes)
        except SQLAlchemyError as exc:  # not acknowledged: the broker sends it again after the reconnect
            log.warning("frigate bridge: database error, reconnecting in %.0f s: %s", self.retry_s, exc)
            self._failed.set()
            mqttc.disconnect()
            return
        self.stats.outcomes[handled.outcome] = self.stats.outcomes.get(handled.outcome, 0) + 1
        if handled.outcome == "ignored":
            log.debug("frigate bridge: ignored (%s)", handled.reason)
        mqttc.ack(message.mid, message.qos)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set: connect, consume, and connect again after a failure."""
        while not stop.is_set():
            self._failed.clear()
            try:
                self._client.connect(self.to.host, self.to.port, keepalive=30)
            except OSError as exc:
                log.warning("frigate bridge: cannot reach %s:%s (%s); retrying in %.0f s",
                            self.to.host, self.to.port, exc, self.retry_s)
                stop.wait(self.retry_s)
                continue
            self._client.loop_start()
            while not stop.is_set() and not self._failed.is_set():
                time.sleep(0.2)
            self._client.disconnect()
            self._client.loop_stop()
            self.subscribed.clear()
            if self._failed.is_set():
                stop.wait(self.retry_s)

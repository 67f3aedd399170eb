"""Camera tracks enter the loop through the same intake as ``POST /api/events``.

One tracked object is one event: its ``new`` creates the event (idempotency key
``camera:<camera>:<run>:<track>``, so a replayed clip or a retried call makes no second
event), ``update`` and ``end`` only refresh what the event knows (best snapshot, last seen,
ended) and never create another. Everything a camera says is data: the description is
written here from the category and the camera's configured name, not taken from the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.city.config import CityConfig
from dispatch.core.errors import InvalidField
from dispatch.intake.models import Event
from dispatch.intake.schemas import EventCreate
from dispatch.intake.service import create_event

KINDS = ("new", "update", "end")


class TrackEvent(Protocol):
    """What perception emits for one track (``perception.events.CameraEvent``); read-only."""

    @property
    def camera_id(self) -> str: ...
    @property
    def track_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def zone(self) -> str | None: ...
    @property
    def box(self) -> Any: ...
    @property
    def scores(self) -> dict[str, float]: ...
    @property
    def snapshot_jpeg(self) -> bytes | None: ...
    @property
    def frame_size(self) -> tuple[int, int] | None: ...


@dataclass
class IntakeResult:
    event_id: str
    created: bool
    kind: str
    updated: list[str] = field(default_factory=list)


def idempotency_key(camera_id: str, run_id: str, track_id: int) -> str:
    return f"camera:{camera_id}:{run_id}:{track_id}"[:200]


def _box(value: Any) -> list[float]:
    box = [round(float(v), 1) for v in list(value)]
    if not all(math.isfinite(v) for v in box):
        raise InvalidField("box", "coordinates must be finite numbers")
    if len(box) != 4 or not (box[0] <= box[2] and box[1] <= box[3]):
        raise InvalidField("box", "must be [x1, y1, x2, y2] with x1 <= x2 and y1 <= y2")
    return box


MAX_EMBEDDING_DIM = 4096


def _embedding(value: Any) -> list[float] | None:
    """The crop's embedding as stored (``None`` when perception gave none)."""
    if value is None:
        return None
    numbers = [float(v) for v in list(value)]
    if not 0 < len(numbers) <= MAX_EMBEDDING_DIM or not all(math.isfinite(v) for v in numbers):
        raise InvalidField("embedding", f"must be 1 to {MAX_EMBEDDING_DIM} finite numbers")
    return [round(v, 6) for v in numbers]


def _score(scores: dict[str, float]) -> float:
    return float(scores.get("clip", scores.get("detector", 0.0)) or 0.0)


def submit(
    *, db_session: Session, city: CityConfig, event: TrackEvent, run_id: str, max_image_bytes: int,
    seen_at: datetime | None = None,
) -> IntakeResult:
    """Store or refresh the event of one track. The caller commits, then enqueues new events.

    ``seen_at`` is when the camera saw the track (Frigate's ``start_time``); it becomes the
    event's ``occurred_at``, so time-of-day routing rules read the sighting, not the arrival.
    """
    camera = city.camera(event.camera_id)
    if camera is None:
        raise InvalidField("camera_id", f"unknown camera {event.camera_id!r}")
    category = city.category(event.category)
    if category is None:
        raise InvalidField("category", f"unknown category {event.category!r}")
    if event.kind not in KINDS:
        raise InvalidField("kind", f"must be one of {', '.join(KINDS)}")
    if event.snapshot_jpeg is not None and len(event.snapshot_jpeg) > max_image_bytes:
        raise InvalidField("snapshot", f"larger than the limit of {max_image_bytes} bytes")
    crop = _embedding(getattr(event, "embedding", None))
    key = idempotency_key(event.camera_id, run_id, event.track_id)
    now = datetime.now(UTC)
    first, seen = (seen_at or now).astimezone(UTC).isoformat(), now.isoformat()  # last_seen: this sighting's arrival
    info = {
        "camera_id": camera.id, "camera_name": camera.name, "zone": event.zone,
        "track_id": int(event.track_id), "box": _box(event.box), "category": category.code,
        "scores": {k: round(float(v), 4) for k, v in event.scores.items() if math.isfinite(float(v))},
        "run_id": run_id,
        **({"frame": [int(v) for v in event.frame_size]} if event.frame_size else {}),
        "first_seen": first, "last_seen": max(first, seen), "ended": event.kind == "end",
    }
    existing = db_session.scalar(select(Event).where(Event.idempotency_key == key).with_for_update())
    if existing is None:
        where = f" in zone {event.zone}" if event.zone else ""
        data = EventCreate(
            source="camera", category_hint=category.code, lat=camera.location.lat,
            lon=camera.location.lon, address=camera.name, occurred_at=seen_at,
            description=f"Camera {camera.name}{where} sees: {category.name.lower()}.",
        )
        stored, created = create_event(db_session=db_session, city=city, data=data,
                                       max_image_bytes=max_image_bytes, idempotency_key=key)
        if created:
            stored.attributes = info
            if event.snapshot_jpeg:
                stored.image, stored.image_content_type = event.snapshot_jpeg, "image/jpeg"
            stored.crop_embedding = crop
        return IntakeResult(event_id=str(stored.id), created=created, kind=event.kind)
    # a later sighting of the same track: refresh, never duplicate
    before = dict(existing.attributes or {})
    after = {**before, "last_seen": seen, "ended": before.get("ended", False) or event.kind == "end"}
    updated = ["last_seen"]
    if _score(event.scores) > _score(before.get("scores") or {}) and event.snapshot_jpeg:
        after.update(box=info["box"], scores=info["scores"])
        if "frame" in info:
            after["frame"] = info["frame"]
        existing.image, existing.image_content_type = event.snapshot_jpeg, "image/jpeg"
        if crop is not None:
            existing.crop_embedding = crop
        updated.append("snapshot")
    existing.attributes = after
    return IntakeResult(event_id=str(existing.id), created=False, kind=event.kind, updated=updated)

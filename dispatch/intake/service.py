"""Events in: checks, location, image decoding and the idempotent insert behind every source.

Typed, keyword-only services; the caller owns the transaction.
"""

from __future__ import annotations

import base64
import binascii
import io
import uuid
from datetime import UTC, datetime, timedelta

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.city.config import CityConfig
from dispatch.core.errors import InvalidField, NotFound
from dispatch.intake.models import Event
from dispatch.intake.schemas import EventCreate

IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def decode_image(data: str, *, max_bytes: int) -> tuple[bytes, str]:
    """Base64 image -> (bytes, content type), or InvalidField naming the limit."""
    if len(data) > (max_bytes * 4) // 3 + 4:
        raise InvalidField("image_base64", f"image is larger than the limit of {max_bytes} bytes")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidField("image_base64", "not valid base64") from None
    if len(raw) > max_bytes:
        raise InvalidField("image_base64", f"image is larger than the limit of {max_bytes} bytes")
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.verify()
            fmt = img.format or ""
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise InvalidField("image_base64", "not an image (JPEG, PNG or WebP expected)") from None
    if fmt not in IMAGE_FORMATS:
        raise InvalidField("image_base64", f"image format {fmt} not accepted (JPEG, PNG or WebP)")
    return raw, IMAGE_FORMATS[fmt]


def _check_event(*, city: CityConfig, data: EventCreate) -> None:
    if data.category_hint is not None and city.category(data.category_hint) is None:
        known = ", ".join(c.code for c in city.categories)
        raise InvalidField("category_hint", f"unknown category {data.category_hint!r}; known: {known}")
    if data.occurred_at is not None:
        occurred = data.occurred_at
        if occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=UTC)
        if occurred > datetime.now(UTC) + timedelta(minutes=10):
            raise InvalidField("occurred_at", "must not be in the future")


def locate(*, city: CityConfig, lat: float | None, lon: float | None, address: str | None) -> str | None:
    """District code from coordinates, else from a district named in the address."""
    if lat is not None and lon is not None:
        district = city.district_at(lat, lon)
        return district.code if district else None
    if address:
        district = city.district_named_in(address)
        return district.code if district else None
    return None


def create_event(
    *, db_session: Session, city: CityConfig, data: EventCreate, max_image_bytes: int,
    idempotency_key: str | None = None,
) -> tuple[Event, bool]:
    """Store an event. Returns (event, created); a repeated idempotency key returns the first."""
    _check_event(city=city, data=data)
    key = idempotency_key or (f"{data.source}:{data.external_id}" if data.external_id else None)
    if key is not None:
        existing = db_session.scalar(select(Event).where(Event.idempotency_key == key))
        if existing is not None:
            return existing, False
    image, content_type = (None, None)
    if data.image_base64:
        image, content_type = decode_image(data.image_base64, max_bytes=max_image_bytes)
    occurred = data.occurred_at
    if occurred is not None and occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    event = Event(
        id=uuid.uuid4(), source=data.source, idempotency_key=key, description=data.description,
        category_hint=data.category_hint, lat=data.lat, lon=data.lon, address=data.address,
        district=locate(city=city, lat=data.lat, lon=data.lon, address=data.address),
        occurred_at=occurred, contact=data.contact.model_dump(mode="json") if data.contact else None,
        image=image, image_content_type=content_type, status="received", flags=[],
    )
    db_session.add(event)
    db_session.flush()
    return event, True


def get_event(*, db_session: Session, event_id: uuid.UUID) -> Event:
    event = db_session.get(Event, event_id)
    if event is None:
        raise NotFound("event", event_id)
    return event

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
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from agents.safety import PRIORITY_DEMAND, PROMPT_INJECTION, ROUTING_DEMAND, detect_manipulation
from agents.text import clean
from dispatch.city.config import CityConfig
from dispatch.core.errors import InvalidField, NotFound
from dispatch.core.inputs import DEFAULT_MAX_MEGAPIXELS, megapixels_problem
from dispatch.i18n import explain
from dispatch.intake.models import Event
from dispatch.intake.schemas import EventCreate

IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
NOT_AN_IMAGE = "not an image (JPEG, PNG or WebP expected)"
INVISIBLE_CHARACTERS = "invisible_characters"
FLAG_REASONS = {
    PROMPT_INJECTION: explain.FLAG_PROMPT_INJECTION(),
    PRIORITY_DEMAND: explain.FLAG_PRIORITY_DEMAND(),
    ROUTING_DEMAND: explain.FLAG_ROUTING_DEMAND(),
    INVISIBLE_CHARACTERS: explain.FLAG_INVISIBLE(),
}
"""Why each intake flag matters, in the words staff read among a ticket's triage reasons."""


def flag_reasons(flags: list[str]) -> list[str]:
    """One triage reason per flag, naming the flag and why it matters."""
    return [explain.FLAG_RAISED(flag=flag, why=FLAG_REASONS.get(flag, explain.FLAG_OTHER()))
            for flag in flags]


FUTURE_SLACK = timedelta(minutes=10)  # clocks differ a little; the policy's bound is one day


class ImageTooLarge(Exception):
    """The header claims more pixels than PIL itself will open (a decompression bomb)."""


def image_size(raw: bytes) -> tuple[int, int] | None:
    """(width, height) from the header alone (nothing is decoded), or None when the bytes
    are not an image PIL reads; ImageTooLarge past PIL's own bomb limit."""
    try:
        with Image.open(io.BytesIO(raw)) as img:
            return img.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge() from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None


def decode_image(data: str, *, max_bytes: int,
                 max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> tuple[bytes, str]:
    """Base64 image -> (bytes, content type), or InvalidField naming the limit: bytes first,
    then the pixel count read from the header, and only then the image is verified."""
    if len(data) > (max_bytes * 4) // 3 + 4:
        raise InvalidField("image_base64", f"image is larger than the limit of {max_bytes} bytes")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidField("image_base64", "not valid base64") from None
    if len(raw) > max_bytes:
        raise InvalidField("image_base64", f"image is larger than the limit of {max_bytes} bytes")
    try:
        size = image_size(raw)
    except ImageTooLarge:
        raise InvalidField("image_base64",
                           f"image is over the limit of {max_megapixels:g} megapixels") from None
    if size is None:
        raise InvalidField("image_base64", NOT_AN_IMAGE)
    problem = megapixels_problem(*size, max_megapixels)
    if problem is not None:
        raise InvalidField("image_base64", problem)
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.verify()
            fmt = img.format or ""
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidField("image_base64", NOT_AN_IMAGE) from None
    if fmt not in IMAGE_FORMATS:
        raise InvalidField("image_base64", f"image format {fmt} not accepted (JPEG, PNG or WebP)")
    return raw, IMAGE_FORMATS[fmt]


def _check_event(*, city: CityConfig, data: EventCreate) -> None:
    if data.category_hint is not None and city.category(data.category_hint) is None:
        known = ", ".join(c.code for c in city.categories)
        raise InvalidField("category_hint", f"unknown category {data.category_hint!r}; known: {known}")
    if data.occurred_at is not None and data.occurred_at > datetime.now(UTC) + FUTURE_SLACK:
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


def intake_flags(description: str) -> list[str]:
    """What staff should know about the text before anyone reads it: manipulation flags
    (``agents.safety``) on the cleaned text, and ``invisible_characters`` when zero-width or
    bidirectional control characters were in it. The text itself is stored as received."""
    cleaned = clean(description)
    flags = set(detect_manipulation(cleaned.text))
    if cleaned.marks:
        flags.add(INVISIBLE_CHARACTERS)
    return sorted(flags)


def _existing(db_session: Session, key: str | None) -> Event | None:
    if key is None:
        return None
    return db_session.scalar(select(Event).where(Event.idempotency_key == key))


def create_event(
    *, db_session: Session, city: CityConfig, data: EventCreate, max_image_bytes: int,
    idempotency_key: str | None = None, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> tuple[Event, bool]:
    """Store an event. Returns (event, created); a repeated idempotency key returns the first.

    Concurrent requests with one key: ``INSERT ... ON CONFLICT DO NOTHING`` waits for the
    first one's transaction, inserts nothing, and the first event is read back.
    """
    _check_event(city=city, data=data)
    key = idempotency_key or (f"{data.source}:{data.external_id}" if data.external_id else None)
    existing = _existing(db_session, key)
    if existing is not None:
        return existing, False
    image, content_type = (None, None)
    if data.image_base64:
        image, content_type = decode_image(data.image_base64, max_bytes=max_image_bytes,
                                           max_megapixels=max_megapixels)
    values = dict(
        id=uuid.uuid4(), source=data.source, idempotency_key=key, description=data.description,
        category_hint=data.category_hint, lat=data.lat, lon=data.lon, address=data.address,
        district=locate(city=city, lat=data.lat, lon=data.lon, address=data.address),
        occurred_at=data.occurred_at,
        contact=data.contact.model_dump(mode="json") if data.contact else None,
        image=image, image_content_type=content_type, status="received",
        flags=intake_flags(data.description),
    )
    inserted = db_session.scalar(insert(Event).values(**values).on_conflict_do_nothing(
        index_elements=[Event.idempotency_key]).returning(Event.id))
    if inserted is None:  # another request with the same key committed first
        existing = _existing(db_session, key)
        assert existing is not None
        return existing, False
    event = db_session.get(Event, inserted)
    assert event is not None
    return event, True


def get_event(*, db_session: Session, event_id: uuid.UUID) -> Event:
    event = db_session.get(Event, event_id)
    if event is None:
        raise NotFound("event", event_id)
    return event

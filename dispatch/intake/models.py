"""The ``events`` table: one observation from one source, as it came in."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from agents.text import clean
from dispatch.core.base import Base


class Event(Base):
    """One observation from one source: a hotline complaint, an Open311 request, a camera track."""

    __tablename__ = "events"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    source: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text)
    category_hint: Mapped[str | None] = mapped_column(String(64))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300))
    district: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    contact: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    image: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    image_content_type: Mapped[str | None] = mapped_column(String(40))
    # camera events with a CLIP verifier: the best crop's L2-normalised embedding ("show similar")
    crop_embedding: Mapped[list[float] | None] = mapped_column(JSONB, deferred=True)
    status: Mapped[str] = mapped_column(String(16), default="received")  # received|processed|failed
    flags: Mapped[list[str]] = mapped_column(JSONB, default=list)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("incidents.id"))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Open311: the photo's URL, and the answers to the service's attributes ({code: value})
    media_url: Mapped[str | None] = mapped_column(String(1000))
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    __table_args__ = (
        Index("ix_events_status_received", "status", "received_at"),
        # a year-1 date cannot be read back by psycopg: the row would be unreadable (0012)
        CheckConstraint("occurred_at IS NULL OR (occurred_at >= '1900-01-01' AND "
                        "occurred_at < '9000-01-01')", name="ck_events_occurred_at_sane"),
    )

    @property
    def text(self) -> str:
        """The description as every check and model sees it: NFKC-normalised, without
        zero-width and bidirectional control characters. ``description`` keeps the text as
        it was received, for staff to see (``agents.text.show_invisible``)."""
        return clean(self.description).text

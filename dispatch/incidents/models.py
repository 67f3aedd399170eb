"""The ``incidents`` table: one real-world problem, written up; events merge into it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.core.base import Base


class Incident(Base):
    """One real-world problem, written up; events merge into it."""

    __tablename__ = "incidents"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    origin_event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("events.id", use_alter=True), unique=True
    )
    category: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    location_phrase: Mapped[str] = mapped_column(String(300), default="")
    recommended_action: Mapped[str] = mapped_column(String(400), default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    district: Mapped[str | None] = mapped_column(String(64))
    classification: Mapped[dict[str, Any]] = mapped_column(JSONB)
    writeup: Mapped[dict[str, Any]] = mapped_column(JSONB)
    needs_triage: Mapped[bool] = mapped_column(Boolean, default=False)
    triage_reasons: Mapped[list[str]] = mapped_column(JSONB, default=list)
    # Unit-length text embedding of the first event, for the duplicate judge.
    embedding: Mapped[list[float] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True)

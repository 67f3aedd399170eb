"""Tables of perception's side of the loop: uploaded clips, live camera workers' state, and
camera re-checks after a ticket is resolved.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.core.base import Base


class Recheck(Base):
    """A camera zone to look at again after its ticket was resolved (once per resolution)."""

    __tablename__ = "rechecks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    # the history entry of the resolution this re-check follows
    resolution_id: Mapped[int] = mapped_column(
        ForeignKey("ticket_history.id", ondelete="CASCADE"), unique=True)
    camera_id: Mapped[str] = mapped_column(String(120))
    zone: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(64))
    box: Mapped[list[float] | None] = mapped_column(JSONB)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|reopened|cleared|skipped
    ran_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    score: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str | None] = mapped_column(Text)
    snapshot: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    snapshot_content_type: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (Index("ix_rechecks_status_due", "status", "due_at"),)


class ClipJob(Base):
    """A recorded clip uploaded for one camera, run by a perception worker."""

    __tablename__ = "clip_jobs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    camera_id: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(1000))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    submitted_by: Mapped[str | None] = mapped_column(String(120))
    stats: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CameraStatus(Base):
    """The last state a live camera worker reported (connecting, running, reconnecting, failed)."""

    __tablename__ = "camera_status"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    worker: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

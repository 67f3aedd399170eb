"""Tables of delivery failures, SLA escalations and camera re-checks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models import Base


class DeadLetter(Base):
    """A channel delivery that failed its last try; an operator may retry it once."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    agency: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retried_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retried_by: Mapped[str | None] = mapped_column(String(120))

    __table_args__ = (Index("ix_dead_letters_open", "retried_at", "id"),)


class EscalationRecord(Base):
    """One escalation level reached by one ticket; the unique key makes it happen once."""

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    priority_from: Mapped[str] = mapped_column(String(16))
    priority_to: Mapped[str] = mapped_column(String(16))
    notified: Mapped[list[str]] = mapped_column(JSONB, default=list)

    __table_args__ = (UniqueConstraint("ticket_id", "level"),)


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

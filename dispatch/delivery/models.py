"""Tables of delivery: one row per send of a ticket on one channel, and the dead letters of
sends that failed after their last try.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.core.base import Base


class Delivery(Base):
    """A ticket handed to one agency channel; the key makes a redelivery a no-op."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    agency: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    routing_seq: Mapped[int] = mapped_column(Integer)
    delivered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Outside channels (webhook, e-mail, Open311): pending -> sending -> sent | dead | stale.
    # The inbox row is written already sent.
    status: Mapped[str] = mapped_column(String(16), default="sent", server_default="sent")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # pending: not before (a retry's backoff); sending: the claim's lease ends (outbox.claim)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    remote_ref: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("ticket_id", "agency", "channel", "routing_seq"),
                      Index("ix_deliveries_status", "status"))


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

"""The ``escalations`` table: each SLA escalation level a ticket reached, once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.core.base import Base


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

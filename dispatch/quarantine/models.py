"""The ``quarantine`` table: work a task failed on again and again, kept out of the queues.

One row per (task, item): the failures counted, the last error, and, once the count reached
the limit, when the item was quarantined. Dispatchers retry it (the row goes, the item is
queued afresh) or discard it (the row stays, marked).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.core.base import Base


class QuarantinedItem(Base):
    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task: Mapped[str] = mapped_column(String(64))
    item: Mapped[str] = mapped_column(String(64))
    """The id the task works on, as text (an event or incident UUID, a ticket id)."""
    failures: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    error: Mapped[str] = mapped_column(Text)
    first_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    quarantined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    discarded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    discarded_by: Mapped[str | None] = mapped_column(String(120))

    __table_args__ = (
        Index("ux_quarantine_task_item", "task", "item", unique=True),
        Index("ix_quarantine_quarantined", "quarantined_at"),
    )

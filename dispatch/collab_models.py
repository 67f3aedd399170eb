"""Tables of the work on a ticket: comments, internal notes and attachments.

Comments and internal notes are written by agency staff and dispatchers; an internal note
never leaves the agency pages (not in Open311, hotline or any public output).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models import Base


class TicketComment(Base):
    """A comment on a ticket; ``internal`` marks a note for the agency's eyes only."""

    __tablename__ = "ticket_comments"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_ticket_comments_ticket_id", "ticket_id", "id"),)


class TicketAttachment(Base):
    """A file attached to a ticket (a document, or the photo of a resolution); the bytes are
    loaded only when the file is downloaded."""

    __tablename__ = "ticket_attachments"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    uploaded_by: Mapped[str] = mapped_column(String(120))
    file_name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(16), default="attachment")  # attachment|resolution
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_ticket_attachments_ticket_id", "ticket_id", "id"),)

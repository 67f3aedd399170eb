"""Tables of the hotline: the knowledge base it answers from and its conversations.

They share ``Base`` with ``dispatch.core.base`` so that Alembic sees one metadata.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.core.base import Base

EMBEDDING_DIM = 384


class KbDocument(Base):
    """One source page or file: its title and where it came from (a path or a URL)."""

    __tablename__ = "kb_documents"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(1000), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # markdown|html|pdf|csv|text
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class KbChunk(Base):
    """A passage of a document: its text, full-text vector and sentence embedding."""

    __tablename__ = "kb_chunks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("kb_documents.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    tsv: Mapped[Any] = mapped_column(
        TSVECTOR, Computed("to_tsvector('english', text)", persisted=True))
    # the text's search terms separated by spaces (jieba words and two-character windows for
    # Chinese: ``agents.text.search_terms``),
    # searched with PostgreSQL's ``simple`` configuration, which knows no language
    search_text: Mapped[str] = mapped_column(Text, server_default="")
    tsv_simple: Mapped[Any] = mapped_column(
        TSVECTOR, Computed("to_tsvector('simple', search_text)", persisted=True))
    embedding: Mapped[list[float]] = mapped_column(JSONB)

    __table_args__ = (
        Index("ix_kb_chunks_tsv", "tsv", postgresql_using="gin"),
        Index("ix_kb_chunks_tsv_simple", "tsv_simple", postgresql_using="gin"),
        Index("ix_kb_chunks_document_ordinal", "document_id", "ordinal", unique=True),
    )


class HotlineConversation(Base):
    """One citizen's chat with the hotline; ``state`` is ``agents.hotline.HotlineState``."""

    __tablename__ = "hotline_conversations"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    state: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now())

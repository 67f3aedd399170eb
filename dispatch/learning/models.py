"""What the city teaches CityLoop: imported history, corrections, learned models, rule proposals.

- ``history_imports`` / ``history_rows``: a city's past 311 / hotline records, city-agnostic
  (names as the records spell them), each row tagged with the import it came from. An import
  is written in one transaction, so a failed one leaves no rows behind.
- ``training_examples``: labelled examples from staff corrections in the inbox (a reassign,
  a rejection with the right agency, a category change).
- ``learned_models``: versioned TextModel (category) and RouterModel (agency) bytes with their
  metrics; at most one ``current`` model per kind.
- ``rule_proposals``: a rule suggested by repeated corrections, with its evidence; accepted
  ones are the overlay applied on the city file's routing rules.
"""

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

from dispatch.core.base import Base


class HistoryImport(Base):
    """One run of ``cityloop history import``: the file, its column map and the counts."""

    __tablename__ = "history_imports"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    column_map: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    bad_rows: Mapped[int] = mapped_column(Integer, default=0)
    # the first bad rows, each {"line": n, "reason": "..."}
    bad_examples: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class HistoryRecord(Base):
    """One historical request as the records tell it."""

    __tablename__ = "history_rows"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("history_imports.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(300))
    agency: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    district: Mapped[str | None] = mapped_column(String(300))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    external_id: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_history_rows_import_id", "import_id"),)


class TrainingExample(Base):
    """A labelled example from a correction: ``kind`` says which label it teaches."""

    __tablename__ = "training_examples"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "agency" | "category"
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100))
    district: Mapped[str | None] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(100))
    wrong_label: Mapped[str | None] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_training_examples_kind", "kind"),)


class LearnedModelRecord(Base):
    """One trained model; ``status`` is current, candidate (not promoted) or retired."""

    __tablename__ = "learned_models"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "category" | "agency"
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    training_size: Mapped[int] = mapped_column(Integer)
    holdout_size: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[float] = mapped_column(Float)
    # accuracy of the model it was compared with on the same held-out slice (None: first model)
    previous_accuracy: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    source: Mapped[str] = mapped_column(String(200))
    trained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (UniqueConstraint("kind", "version"),)


class RuleProposal(Base):
    """Corrections that agree: tickets of ``category`` in ``district`` belong to ``agency``."""

    __tablename__ = "rule_proposals"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    category: Mapped[str] = mapped_column(String(100))
    district: Mapped[str] = mapped_column(String(100), default="")  # "" = any district
    agency: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="proposed")  # accepted | dismissed
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (UniqueConstraint("category", "district", "agency"),)

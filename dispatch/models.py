"""Tables of the system of record. API schemas live in ``dispatch/schemas.py``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
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
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


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
    status: Mapped[str] = mapped_column(String(16), default="received")  # received|processed
    flags: Mapped[list[str]] = mapped_column(JSONB, default=list)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("incidents.id"))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Open311: the photo's URL, and the answers to the service's attributes ({code: value})
    media_url: Mapped[str | None] = mapped_column(String(1000))
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    __table_args__ = (Index("ix_events_status_received", "status", "received_at"),)


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


class Ticket(Base):
    """An incident assigned to an agency (or to the triage queue), and its workflow state."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id"), unique=True)
    agency: Mapped[str | None] = mapped_column(String(64))  # None while in triage
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(64))
    district: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    assignee: Mapped[str | None] = mapped_column(String(120))
    needs_triage: Mapped[bool] = mapped_column(Boolean, default=False)
    routing: Mapped[dict[str, Any]] = mapped_column(JSONB)
    routing_seq: Mapped[int] = mapped_column(Integer, default=1)
    rejected_by: Mapped[list[str]] = mapped_column(JSONB, default=list)
    sla_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sla_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    arrived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    """When the ticket reached its current agency (created, rerouted or reassigned): the inbox's
    live refresh shows tickets that arrived after the page was drawn, whatever their id."""

    incident: Mapped[Incident] = relationship(lazy="joined")
    history: Mapped[list[TicketHistory]] = relationship(
        order_by="TicketHistory.id", back_populates="ticket", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_tickets_agency_status_id", "agency", "status", "id"),
        Index("ix_tickets_status_due", "status", "sla_due_at"),
    )


class TicketHistory(Base):
    """Every change to a ticket: who, when, what, and why."""

    __tablename__ = "ticket_history"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    agency: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="history")


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
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    remote_ref: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("ticket_id", "agency", "channel", "routing_seq"),
                      Index("ix_deliveries_status", "status"))


class ApiKey(Base):
    """A client allowed to POST Open311 requests; only the SHA-256 of the key is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    rate_window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rate_window_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        Index("ux_api_keys_active_name", "name", unique=True,
              postgresql_where=revoked_at.is_(None)),
    )


class User(Base):
    """A person who signs in to the inbox; staff and supervisors belong to one agency."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # staff|supervisor|dispatcher|admin
    agency: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint("role IN ('staff', 'supervisor', 'dispatcher', 'admin')",
                        name="ck_users_role"),
        CheckConstraint("role NOT IN ('staff', 'supervisor') OR agency IS NOT NULL",
                        name="ck_users_agency_for_agency_roles"),
    )


class WebSession(Base):
    """A signed-in browser; only the SHA-256 of the cookie value is stored."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(lazy="joined")


class LoginFailure(Base):
    """One failed sign-in, counted per username and address to slow down guessing."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_login_failures_who_at", "username", "address", "at"),)

"""Pydantic shapes at the boundary of dispatch: what comes in and what goes out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationInfo, field_validator

from dispatch.lifecycle import Action

MAX_DESCRIPTION = 4000


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=120)
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9 +().-]{3,40}$")
    email: EmailStr | None = None


class EventCreate(BaseModel):
    """An event from any source. Either lat+lon, or an address, or neither."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$", examples=["hotline"])
    description: str = Field(min_length=3, max_length=MAX_DESCRIPTION)
    category_hint: str | None = Field(default=None, max_length=64)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180, validate_default=True)
    address: str | None = Field(default=None, max_length=300)
    occurred_at: datetime | None = None
    image_base64: str | None = Field(
        default=None, description="JPEG, PNG or WebP, base64-encoded; size limit in settings"
    )
    contact: Contact | None = None
    external_id: str | None = Field(
        default=None, max_length=200, description="The sender's own id; a repeat is not a new event"
    )

    @field_validator("lon")
    @classmethod
    def _lat_lon_together(cls, lon: float | None, info: ValidationInfo) -> float | None:
        # on the field (not the model) so that the error names a field: ``lon``
        if "lat" in info.data and (info.data["lat"] is None) != (lon is None):
            raise ValueError("lat and lon must be given together")
        return lon


class EventAccepted(BaseModel):
    id: uuid.UUID
    status: str
    duplicate: bool = False
    links: dict[str, str]


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    source: str
    description: str
    category_hint: str | None
    lat: float | None
    lon: float | None
    address: str | None
    district: str | None
    occurred_at: datetime | None
    received_at: datetime
    status: str
    flags: list[str]
    incident_id: uuid.UUID | None
    ticket_id: int | None = None


class IncidentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    category: str
    severity: str
    title: str
    description: str
    location_phrase: str
    recommended_action: str
    lat: float | None
    lon: float | None
    district: str | None
    classification: dict[str, Any]
    writeup: dict[str, Any]
    needs_triage: bool
    triage_reasons: list[str]
    created_at: datetime


class HistoryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    agency: str | None
    note: str | None
    data: dict[str, Any]


class TicketSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    reference: str
    agency: str | None
    status: str
    priority: str
    category: str
    district: str | None
    title: str
    assignee: str | None
    needs_triage: bool
    sla_due_at: datetime
    sla_breached: bool
    created_at: datetime
    updated_at: datetime


class TicketRead(TicketSummary):
    routing: dict[str, Any]
    rejected_by: list[str]
    allowed_actions: list[str]
    incident: IncidentRead
    history: list[HistoryRead]


class TicketPage(BaseModel):
    items: list[TicketSummary]
    next_cursor: int | None


class ActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    actor: str = Field(min_length=1, max_length=120)
    note: str | None = Field(default=None, max_length=4000)
    reason: str | None = Field(default=None, max_length=2000, description="required to reject")
    agency: str | None = Field(default=None, max_length=64, description="required to reassign")


class ActionResult(BaseModel):
    action: Action
    ticket: TicketRead

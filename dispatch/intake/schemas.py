"""Pydantic shapes of an event at the boundary: what comes in and what is read back."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationInfo, field_validator

from dispatch.core.inputs import EventMoment, SafeText

MAX_DESCRIPTION = 4000


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: SafeText | None = Field(default=None, max_length=120)
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9 +().-]{3,40}$")
    email: EmailStr | None = None


class EventCreate(BaseModel):
    """An event from any source. Either lat+lon, or an address, or neither."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$", examples=["hotline"])
    description: SafeText = Field(min_length=3, max_length=MAX_DESCRIPTION)
    category_hint: SafeText | None = Field(default=None, max_length=64)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180, validate_default=True)
    address: SafeText | None = Field(default=None, max_length=300)
    occurred_at: EventMoment | None = None
    image_base64: str | None = Field(
        default=None, description="JPEG, PNG or WebP, base64-encoded; size limit in settings"
    )
    contact: Contact | None = None
    external_id: SafeText | None = Field(
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

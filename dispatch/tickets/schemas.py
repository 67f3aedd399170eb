"""Pydantic shapes of incidents and tickets at the boundary: reads, pages, actions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dispatch.tickets.lifecycle import Action, Rating


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
    rating: Rating | None = Field(default=None, description="required for a callback (回访)")


class CategoryChange(BaseModel):
    """File a ticket under another of the city's categories (a correction the models learn)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    category: str = Field(max_length=64, description="a category code of the city file")
    note: str | None = Field(default=None, max_length=4000)


class ActionResult(BaseModel):
    action: Action
    ticket: TicketRead

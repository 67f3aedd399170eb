"""Pydantic shapes at the boundary of document drafting."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DocumentKind = Literal["incident_report", "daily_briefing", "public_notice", "work_order"]
ProseMethod = Literal["llm", "fallback", "edited"]
MAX_BRIEFING_DAYS = 31
MAX_MARKDOWN_CHARS = 100_000


class NoticeFields(BaseModel):
    """What an official states in a public notice; the system adds the incident's facts."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=3, max_length=200)
    area: str = Field(min_length=2, max_length=300)
    effective_from: date
    effective_until: date | None = None
    measures: str | None = Field(default=None, max_length=1000)
    contact: str | None = Field(default=None, max_length=200)

    @field_validator("effective_until")
    @classmethod
    def _not_before_start(cls, until: date | None, info: Any) -> date | None:
        start = info.data.get("effective_from")
        if until is not None and start is not None and until < start:
            raise ValueError("must not be before effective_from")
        return until


class DocumentCreate(BaseModel):
    """Which document to draft; each kind needs its own fields (checked per kind)."""

    model_config = ConfigDict(extra="forbid")

    kind: DocumentKind
    incident_id: uuid.UUID | None = None
    ticket_id: int | None = Field(default=None, ge=1)
    date_from: date | None = None
    date_to: date | None = None
    notice: NoticeFields | None = None


class DocumentEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    markdown: str = Field(min_length=1, max_length=MAX_MARKDOWN_CHARS)


class TemplateRef(BaseModel):
    name: str
    version: str


class Revision(BaseModel):
    """A version of the document that was replaced, and why."""

    version: int
    markdown: str
    prose: ProseMethod
    template: TemplateRef
    model: str | None
    prompt_version: str | None
    replaced_by: str
    replaced_at: datetime
    reason: Literal["regenerate", "edit"]


class DocumentRead(BaseModel):
    id: int
    kind: DocumentKind
    version: int
    inputs: dict[str, Any]
    template: TemplateRef
    prose: ProseMethod
    model: str | None
    prompt_version: str | None
    dropped_claims: list[str]
    llm_error: str | None
    markdown: str
    revisions: list[Revision]
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    links: dict[str, str]

"""What a question becomes: the filters (the API's JSON shape), and what the parser knows of
the city (its vocabulary)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Status = Literal["triage", "open", "acknowledged", "in_progress", "resolved", "closed", "rejected"]
STATUSES: tuple[Status, ...] = ("triage", "open", "acknowledged", "in_progress", "resolved",
                                "closed", "rejected")
ACTIVE: tuple[Status, ...] = ("open", "acknowledged", "in_progress")
MAX_RADIUS_M = 50_000
TEXT_MAX = 200
Parser = Literal["rules", "llm"]


class Near(BaseModel):
    """Within ``radius_m`` metres of any place of the layer ``layer``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layer: str = Field(min_length=1, max_length=64)
    radius_m: int = Field(gt=0, le=MAX_RADIUS_M)


class AskFilters(BaseModel):
    """A question as filters. Lists are ORs within a field; fields AND together.

    ``since`` is inclusive and ``until`` exclusive, both on when the ticket came in;
    ``overdue`` is the inbox's SLA state (true: active and past due; false: active and not);
    ``text`` is searched in the ticket's words and by meaning.
    """

    model_config = ConfigDict(extra="forbid")

    categories: list[str] = Field(default_factory=list, max_length=50)
    districts: list[str] = Field(default_factory=list, max_length=50)
    agencies: list[str] = Field(default_factory=list, max_length=50)
    statuses: list[Status] = Field(default_factory=list, max_length=len(STATUSES))
    since: datetime | None = None
    until: datetime | None = None
    near: Near | None = None
    overdue: bool | None = None
    text: str | None = Field(default=None, max_length=TEXT_MAX)

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry its UTC offset")
        return value

    @field_validator("text")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    def is_empty(self) -> bool:
        return self == AskFilters()


class AskParse(BaseModel):
    """The filters, the words the parser could not use, and one line saying what it understood."""

    filters: AskFilters
    unparsed: list[str] = Field(default_factory=list)
    explanation: str
    parser: Parser = "rules"
    llm_error: str | None = None
    """Why the LLM's parse was not used (the rules answered instead), when it was asked."""


class Term(BaseModel):
    """A category, district or agency: its code, its label per language, and every word a
    question may call it by (names in each language, synonyms, keywords)."""

    model_config = ConfigDict(frozen=True)

    code: str
    labels: dict[str, str] = Field(default_factory=dict)
    words: list[str] = Field(default_factory=list)
    description: str = ""

    def label(self, language: str) -> str:
        return self.labels.get(language) or self.labels.get("en") or self.code


class LayerTerm(Term):
    """A layer of places; ``words`` also holds the names of its places."""

    default_radius_m: int = Field(gt=0, le=MAX_RADIUS_M)


class AskVocabulary(BaseModel):
    """Everything the parser knows of one city."""

    model_config = ConfigDict(frozen=True)

    categories: list[Term] = Field(default_factory=list)
    districts: list[Term] = Field(default_factory=list)
    agencies: list[Term] = Field(default_factory=list)
    layers: list[LayerTerm] = Field(default_factory=list)
    timezone: str = "UTC"

    def layer(self, code: str) -> LayerTerm | None:
        return next((layer for layer in self.layers if layer.code == code), None)

    def codes(self, kind: Literal["categories", "districts", "agencies", "layers"]) -> list[str]:
        terms: list[Term] = list(getattr(self, kind))
        return [term.code for term in terms]

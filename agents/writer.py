"""Incident writer: a title, description, location and action for one event."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from langchain_core.language_models.chat_models import BaseChatModel
from pydantic import BaseModel, Field, ValidationError

from agents.errors import LLMUnavailable
from agents.grounding import SENTENCE_END, claims_in
from agents.llm import model_name, structured_call
from agents.prompts import WRITE_PROMPT_VERSION, write_messages

TITLE_MAX = 120
DESCRIPTION_MAX = 2000
LOCATION_MAX = 200
ACTION_MAX = 300
_WRITE_MAX_TOKENS = 400


def _grounded_tokens(texts: Iterable[str], occurred_at: datetime | None) -> set[str]:
    """Every number and date word the facts contain, normalised for comparison."""
    tokens: set[str] = set()
    for text in texts:
        tokens.update(claims_in(text))
    if occurred_at is not None:
        at = occurred_at
        tokens.update(str(part) for part in (at.year, at.month, at.day, at.hour, at.minute))
        tokens.add(str(at.hour % 12 or 12))
        for name in (at.strftime("%B").lower(), at.strftime("%A").lower()):
            tokens.update((name, name[:3], name[:4]))
    return tokens



def _is_grounded(text: str, grounded: set[str]) -> bool:
    """Whether every claim in ``text`` appears among the grounded tokens."""
    return claims_in(text) <= grounded


def _split_grounded(text: str, grounded: set[str]) -> tuple[str, list[str]]:
    """Keep the sentences whose claims are all grounded; return (kept text, dropped)."""
    kept: list[str] = []
    dropped: list[str] = []
    for sentence in SENTENCE_END.split(text.strip()):
        if not sentence:
            continue
        (kept if _is_grounded(sentence, grounded) else dropped).append(sentence)
    return " ".join(kept), dropped


class EventFacts(BaseModel):
    """What is known about one event; the writer may use nothing else."""

    description: str
    source: str
    category: str
    category_name: str
    occurred_at: datetime | None = None
    address: str | None = None
    district: str | None = None
    lat: float | None = None
    lon: float | None = None


class Writeup(BaseModel):
    """The text of an incident, and how it was produced."""

    title: str = Field(max_length=TITLE_MAX)
    description: str = Field(max_length=DESCRIPTION_MAX)
    location_phrase: str = Field(max_length=LOCATION_MAX)
    recommended_action: str = Field(max_length=ACTION_MAX)
    method: Literal["llm", "fallback"]
    prompt_version: str | None
    model: str | None
    dropped_claims: list[str] = Field(default_factory=list)


class _LLMDraft(BaseModel):
    title: str
    description: str
    location_phrase: str
    recommended_action: str


# Tighter than Writeup's limits so the generation stays short on small servers.
_WRITE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 100},
        "description": {"type": "string", "maxLength": 400},
        "location_phrase": {"type": "string", "maxLength": 100},
        "recommended_action": {"type": "string", "maxLength": 160},
    },
    "required": ["title", "description", "location_phrase", "recommended_action"],
    "additionalProperties": False,
}


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def location_phrase(facts: EventFacts) -> str:
    """Where the event is, in words, from address, district or coordinates."""
    if facts.address and facts.district:
        return _clip(f"{facts.address}, {facts.district}", LOCATION_MAX)
    if facts.address or facts.district:
        return _clip(facts.address or facts.district or "", LOCATION_MAX)
    if facts.lat is not None and facts.lon is not None:
        return f"{facts.lat:.5f}, {facts.lon:.5f}"
    return "unknown location"


def fallback_title(facts: EventFacts) -> str:
    """A title such as "Fallen tree at 5th Ave & Main St", without any LLM."""
    if facts.address:
        title = f"{facts.category_name} at {facts.address}"
    elif facts.district:
        title = f"{facts.category_name} in {facts.district}"
    elif facts.lat is not None and facts.lon is not None:
        title = f"{facts.category_name} near {facts.lat:.5f}, {facts.lon:.5f}"
    else:
        title = facts.category_name
    return _clip(title, TITLE_MAX)


def _fallback_action(facts: EventFacts) -> str:
    return _clip(
        f"Inspect the site and handle the reported {facts.category_name.lower()}.", ACTION_MAX
    )


def fallback_writeup(facts: EventFacts) -> Writeup:
    """A deterministic write-up from the facts alone."""
    description = _clip(facts.description, DESCRIPTION_MAX)
    if not description:
        description = f"{facts.category_name} reported via {facts.source}."
    return Writeup(
        title=fallback_title(facts),
        description=description,
        location_phrase=location_phrase(facts),
        recommended_action=_fallback_action(facts),
        method="fallback",
        prompt_version=None,
        model=None,
    )


def _fact_lines(facts: EventFacts) -> list[str]:
    lines = [f"Category: {facts.category_name} ({facts.category})", f"Source: {facts.source}"]
    if facts.occurred_at is not None:
        lines.append(f"Occurred at: {facts.occurred_at.isoformat(timespec='minutes')}")
    lines.append(f"Location: {location_phrase(facts)}")
    return lines


def write_incident(chat: BaseChatModel, *, facts: EventFacts) -> Writeup:
    """One LLM call for the write-up, then a grounding check; raises LLMUnavailable.

    Description and action sentences with numbers, times or dates that the facts
    do not contain are dropped (and listed in ``dropped_claims``); an ungrounded or
    empty title or location is replaced by the deterministic one.
    """
    data = structured_call(
        chat,
        messages=write_messages(report=facts.description, fact_lines=_fact_lines(facts)),
        schema_name="incident_writeup",
        json_schema=_WRITE_SCHEMA,
        max_tokens=_WRITE_MAX_TOKENS,
    )
    try:
        draft = _LLMDraft.model_validate(data)
    except ValidationError as exc:
        raise LLMUnavailable(
            f"LLM write-up failed validation: {exc.error_count()} error(s)"
        ) from exc
    return _grounded_writeup(draft, facts, model_name(chat))


def _grounded_writeup(draft: _LLMDraft, facts: EventFacts, model: str) -> Writeup:
    sources = [facts.description, facts.source, facts.category, facts.category_name]
    sources += [text for text in (facts.address, facts.district) if text]
    sources += [str(value) for value in (facts.lat, facts.lon) if value is not None]
    sources += _fact_lines(facts)
    grounded = _grounded_tokens(sources, facts.occurred_at)
    description, dropped = _split_grounded(draft.description, grounded)
    action, dropped_actions = _split_grounded(draft.recommended_action, grounded)
    dropped += dropped_actions
    title = _clip(draft.title, TITLE_MAX)
    if title and not _is_grounded(title, grounded):
        dropped.append(title)
        title = ""
    location = _clip(draft.location_phrase, LOCATION_MAX)
    if location and not _is_grounded(location, grounded):
        dropped.append(location)
        location = ""
    return Writeup(
        title=title or fallback_title(facts),
        description=_clip(description, DESCRIPTION_MAX) or fallback_writeup(facts).description,
        location_phrase=location or location_phrase(facts),
        recommended_action=_clip(action, ACTION_MAX) or _fallback_action(facts),
        method="llm",
        prompt_version=WRITE_PROMPT_VERSION,
        model=model,
        dropped_claims=dropped,
    )

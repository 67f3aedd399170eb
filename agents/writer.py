"""Incident writer: a title, description, location and action for one event.

Everything the LLM writes is checked against the event's facts (``agents.grounding``):
a description sentence whose claims or content words are not in the facts is dropped,
a title or location that fails becomes the template one ("Fallen tree — Elm Street"),
and the recommended action is one of the city's actions for the category, never free text.
"""

from datetime import datetime
from typing import Any, Literal

from langchain_core.language_models.chat_models import BaseChatModel
from pydantic import BaseModel, Field, ValidationError

from agents.errors import LLMUnavailable
from agents.grounding import Support, split_supported, support_from
from agents.llm import model_name, structured_call
from agents.prompts import WRITE_PROMPT_VERSION, write_messages
from agents.text import clean, cut_at_word

TITLE_MAX = 120
DESCRIPTION_MAX = 2000
LOCATION_MAX = 200
ACTION_MAX = 300
_WRITE_MAX_TOKENS = 400


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
    vocabulary: list[str] = Field(default_factory=list)
    """The category's own words (description, keywords, detector prompts): a sentence may
    use them though the citizen did not ("waterlogging" for "the underpass is flooded")."""
    actions: list[str] = Field(default_factory=list)
    """The city's standard actions for the category; the first is the default."""


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
    """Generated text that was not shown: sentences, a title or a location the facts do
    not support, and an action that is not one of the city's."""
    llm_title: bool = False
    """Whether the title shown is the LLM's (else the template title)."""
    llm_sentences: int = 0
    """How many description sentences the LLM wrote (kept and dropped)."""
    sentences_dropped: int = 0
    """How many of them the facts did not support."""


class _LLMDraft(BaseModel):
    title: str
    description: str
    location_phrase: str
    recommended_action: str


def _write_schema(actions: list[str]) -> dict[str, Any]:
    """Tighter than Writeup's limits so the generation stays short on small servers; the
    action is an enum of the city's actions."""
    action: dict[str, Any] = {"type": "string", "enum": actions} if actions else {
        "type": "string", "maxLength": 160}
    return {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 100},
            "description": {"type": "string", "maxLength": 400},
            "location_phrase": {"type": "string", "maxLength": 100},
            "recommended_action": action,
        },
        "required": ["title", "description", "location_phrase", "recommended_action"],
        "additionalProperties": False,
    }


def _clip(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary (never mid-word or on a comma)."""
    return cut_at_word(" ".join(text.split()), limit)


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
    """The template title: "Fallen tree — Elm Street" (the address, else the district)."""
    where = facts.address or facts.district
    if where:
        return _clip(f"{facts.category_name} — {where}", TITLE_MAX)
    if facts.lat is not None and facts.lon is not None:
        return _clip(f"{facts.category_name} — {facts.lat:.5f}, {facts.lon:.5f}", TITLE_MAX)
    return _clip(facts.category_name, TITLE_MAX)


def default_action(facts: EventFacts) -> str:
    """The category's first standard action, or a generic one when the city lists none."""
    if facts.actions:
        return _clip(facts.actions[0], ACTION_MAX)
    return _clip(f"Inspect the site and handle the reported {facts.category_name.lower()}.",
                 ACTION_MAX)


def fallback_writeup(facts: EventFacts) -> Writeup:
    """A deterministic write-up from the facts alone."""
    description = _clip(clean(facts.description).text, DESCRIPTION_MAX)
    if not description:
        description = f"{facts.category_name} reported via {facts.source}."
    return Writeup(
        title=fallback_title(facts),
        description=description,
        location_phrase=location_phrase(facts),
        recommended_action=default_action(facts),
        method="fallback",
        prompt_version=None,
        model=None,
    )


def _fact_lines(facts: EventFacts) -> list[str]:
    """The trusted facts, for the system prompt: the address a citizen typed is not one of
    them (it goes with the report, inside the untrusted block)."""
    lines = [f"Category: {facts.category_name} ({facts.category})", f"Source: {facts.source}"]
    if facts.occurred_at is not None:
        lines.append(f"Occurred at: {facts.occurred_at.isoformat(timespec='minutes')}")
    if facts.district:
        lines.append(f"District: {facts.district}")
    if facts.lat is not None and facts.lon is not None:
        lines.append(f"Coordinates: {facts.lat:.5f}, {facts.lon:.5f}")
    if facts.actions:
        lines.append("Standard actions: " + "; ".join(facts.actions))
    return lines


def _join(sentences: list[str]) -> str:
    """Sentences as one text: a space after each, except after a Chinese terminator."""
    return "".join(s if s.endswith(("。", "！", "？", "；")) else s + " " for s in sentences).strip()


def _report_block(facts: EventFacts) -> str:
    """What the citizen wrote: the report and the address they gave."""
    if facts.address:
        return f"{facts.description}\nAddress given: {facts.address}"
    return facts.description


def fact_support(facts: EventFacts) -> Support:
    """What a write-up of these facts may say (``agents.grounding``)."""
    texts = [facts.description, facts.source, facts.category.replace("_", " "),
             facts.category_name, *facts.vocabulary]
    texts += [text for text in (facts.address, facts.district) if text]
    texts += [str(value) for value in (facts.lat, facts.lon) if value is not None]
    return support_from(texts, facts.occurred_at)


def draft_incident(chat: BaseChatModel, *, facts: EventFacts) -> dict[str, str]:
    """The LLM's draft (title, description, location_phrase, recommended_action), unchecked;
    raises LLMUnavailable."""
    data = structured_call(
        chat,
        messages=write_messages(report=_report_block(facts), fact_lines=_fact_lines(facts)),
        schema_name="incident_writeup",
        json_schema=_write_schema(facts.actions),
        max_tokens=_WRITE_MAX_TOKENS,
    )
    try:
        return _LLMDraft.model_validate(data).model_dump()
    except ValidationError as exc:
        raise LLMUnavailable(
            f"LLM write-up failed validation: {exc.error_count()} error(s)"
        ) from exc


def write_incident(chat: BaseChatModel, *, facts: EventFacts) -> Writeup:
    """One LLM call for the write-up, then the support check; raises LLMUnavailable."""
    return supported_writeup(draft_incident(chat, facts=facts), facts, model_name(chat))


def supported_writeup(draft: dict[str, str], facts: EventFacts, model: str | None) -> Writeup:
    """The write-up a draft (title, description, location_phrase, recommended_action)
    becomes once everything the facts do not support is dropped."""
    support = fact_support(facts)
    sentences, dropped_sentences = split_supported(clean(draft["description"]).text, support)
    dropped = list(dropped_sentences)
    title = _clip(clean(draft["title"]).text, TITLE_MAX)
    llm_title = bool(title) and support.supports(title)
    if title and not llm_title:
        dropped.append(title)
    location = _clip(clean(draft["location_phrase"]).text, LOCATION_MAX)
    if location and not support.supports(location):
        dropped.append(location)
        location = ""
    action = " ".join(draft["recommended_action"].split())
    if action not in facts.actions:
        if action:
            dropped.append(action)
        action = default_action(facts)
    return Writeup(
        title=title if llm_title else fallback_title(facts),
        description=_clip(_join(sentences), DESCRIPTION_MAX)
        or fallback_writeup(facts).description,
        location_phrase=location or location_phrase(facts),
        recommended_action=action,
        method="llm",
        prompt_version=WRITE_PROMPT_VERSION,
        model=model,
        dropped_claims=dropped,
        llm_title=llm_title,
        llm_sentences=len(sentences) + len(dropped_sentences),
        sentences_dropped=len(dropped_sentences),
    )

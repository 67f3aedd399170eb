"""Document drafter: the prose sections of an official document, from given facts only.

The caller owns the document's structure, numbers and dates (a template renders them);
this agent writes only the prose sections in one schema-constrained call. A grounding
check drops every sentence that states a number or a date word the facts do not
contain. Without a usable LLM, the caller's deterministic fallback prose is used.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

from langchain_core.language_models.chat_models import BaseChatModel
from pydantic import BaseModel, Field

from agents.errors import LLMUnavailable
from agents.grounding import SENTENCE_END, claims_in
from agents.llm import model_name, structured_call
from agents.prompts import DRAFT_PROMPT_VERSION, draft_messages

_MAX_REPORTS = 5
_REPORT_MAX_CHARS = 600
_TOKENS_PER_CHAR = 0.35


class ProseSection(BaseModel):
    """One prose section: its name, what to write, and the text used without an LLM."""

    name: str = Field(pattern=r"^[a-z][a-z_]{0,30}$")
    instruction: str
    fallback: str
    max_chars: int = Field(default=500, ge=40, le=2000)


class Prose(BaseModel):
    """The prose sections of one draft, and how they were produced."""

    sections: dict[str, str]
    method: Literal["llm", "fallback"]
    model: str | None = None
    prompt_version: str | None = None
    dropped_claims: list[str] = Field(default_factory=list)
    error: str | None = None


def fact_lines(facts: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``key: value`` lines for a nested facts dict; lists of dicts are numbered."""
    lines: list[str] = []
    for key, value in facts.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            lines += fact_lines(value, f"{name}.")
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for index, item in enumerate(value, start=1):
                lines += fact_lines(item, f"{name}[{index}].")
        elif isinstance(value, list):
            lines.append(f"{name}: {', '.join(_text(v) for v in value) or 'none'}")
        else:
            lines.append(f"{name}: {_text(value)}")
    return lines


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return "none" if value is None else str(value)



def grounded_tokens(texts: Iterable[str], moments: Iterable[date]) -> set[str]:
    """Every claim the facts support: their numbers and date words, and the names
    (month, weekday) and parts of every date in them."""
    tokens: set[str] = set()
    for text in texts:
        tokens |= claims_in(text)
    for moment in moments:
        tokens |= {str(moment.year), str(moment.month), str(moment.day)}
        for name in (moment.strftime("%B").lower(), moment.strftime("%A").lower()):
            tokens |= {name, name[:3], name[:4]}
        if isinstance(moment, datetime):
            tokens |= {str(moment.hour), str(moment.minute), str(moment.hour % 12 or 12)}
    return tokens


def _moments(value: Any) -> Iterable[date]:
    if isinstance(value, date):
        yield value
    elif isinstance(value, str):
        try:
            yield datetime.fromisoformat(value)
        except ValueError:
            return
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _moments(item)
    elif isinstance(value, list):
        for item in value:
            yield from _moments(item)


def grounding_for(facts: Mapping[str, Any], reports: Sequence[str]) -> set[str]:
    """The claims that the facts and reports support."""
    return grounded_tokens([*fact_lines(facts), *reports], _moments(dict(facts)))


def split_grounded(text: str, grounded: set[str]) -> tuple[str, list[str]]:
    """Keep the sentences whose claims are all grounded; return (kept text, dropped)."""
    kept: list[str] = []
    dropped: list[str] = []
    for sentence in SENTENCE_END.split(" ".join(text.split())):
        if sentence:
            (kept if claims_in(sentence) <= grounded else dropped).append(sentence)
    return " ".join(kept), dropped


def fallback_prose(sections: Sequence[ProseSection], error: str | None = None) -> Prose:
    return Prose(sections={s.name: s.fallback for s in sections}, method="fallback", error=error)


def _schema(sections: Sequence[ProseSection]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            s.name: {"type": "string", "minLength": 1, "maxLength": s.max_chars} for s in sections
        },
        "required": [s.name for s in sections],
        "additionalProperties": False,
    }


def draft(
    chat: BaseChatModel | None,
    *,
    kind: str,
    facts: Mapping[str, Any],
    reports: Sequence[str],
    sections: Sequence[ProseSection],
) -> Prose:
    """One LLM call for the prose sections, grounded against ``facts`` and ``reports``.

    ``reports`` are citizens' texts; each is sent wrapped as untrusted. A section left
    empty by the grounding check gets its fallback text. Never raises for an LLM
    failure: the fallback prose is returned with the error.
    """
    if chat is None:
        return fallback_prose(sections, "no LLM configured")
    lines = fact_lines(facts)
    texts = [text[:_REPORT_MAX_CHARS] for text in reports[:_MAX_REPORTS]]
    messages = draft_messages(
        kind=kind,
        section_lines=[f"- {s.name}: {s.instruction}" for s in sections],
        fact_lines=lines,
        reports=texts,
    )
    # Headroom: llama.cpp grammars do not enforce maxLength, so a long answer must still close.
    max_tokens = int(sum(s.max_chars for s in sections) * _TOKENS_PER_CHAR * 2) + 120
    try:
        data = structured_call(
            chat, messages=messages, schema_name=f"{kind}_prose",
            json_schema=_schema(sections), max_tokens=max_tokens,
        )
    except LLMUnavailable as exc:
        return fallback_prose(sections, str(exc))
    grounded = grounding_for(facts, texts)
    written: dict[str, str] = {}
    dropped: list[str] = []
    for section in sections:
        raw = data.get(section.name)
        kept, lost = split_grounded(raw if isinstance(raw, str) else "", grounded)
        dropped += lost
        written[section.name] = kept[: section.max_chars] or section.fallback
    return Prose(
        sections=written, method="llm", model=model_name(chat),
        prompt_version=DRAFT_PROMPT_VERSION, dropped_claims=dropped,
    )

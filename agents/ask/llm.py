"""The LLM parser: the question → the same filters, by a schema-constrained call.

The model chooses among the city's codes only (enums in the JSON schema) and names the time
window by kind ("last_n_days", n=7) rather than writing dates: the dates are computed by the
same clock as the rules parser's, so a model never does calendar arithmetic. Codes it
invents are dropped; a failed call raises ``LLMUnavailable`` and the caller falls back to
the rules.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError

from agents.ask.explain import explain
from agents.ask.schema import (
    MAX_RADIUS_M,
    STATUSES,
    TEXT_MAX,
    AskFilters,
    AskParse,
    AskVocabulary,
    Near,
    Status,
    Term,
)
from agents.ask.timewords import Clock, Window
from agents.errors import LLMUnavailable
from agents.llm import structured_call
from agents.prompts import SHARED_SYSTEM_PREFIX
from agents.safety import wrap_untrusted
from agents.text import has_cjk

ASK_PROMPT_VERSION = "ask-v1"
MAX_TOKENS = 300
TimeKind = Literal["none", "today", "yesterday", "this_week", "last_week", "this_month",
                   "last_month", "this_year", "last_n_days", "last_n_hours",
                   "older_than_n_days", "since_weekday"]
TIME_KINDS: tuple[str, ...] = TimeKind.__args__  # type: ignore[attr-defined]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_TASK = """\
Task: turn a staff member's question about the city's tickets into search filters.
Use only these codes; leave a list empty when the question does not ask for it.
Categories:
{categories}
Districts:
{districts}
Agencies:
{agencies}
Layers of places ("near schools"):
{layers}
Statuses: triage (not yet assigned), open (new), acknowledged, in_progress, resolved,
closed, rejected. "Open"/"unresolved"/"未处理" means open, acknowledged and in_progress.
Time: today is {today} ({weekday}) in {timezone}. Give time_kind and n:
today, yesterday, this_week, last_week, this_month, last_month, this_year,
last_n_days (n days back from now), last_n_hours, older_than_n_days (came in more than
n days ago), since_weekday (n: 1 = Monday … 7 = Sunday), or none.
overdue: "yes" for overdue/late/逾期, "no" for not overdue, else "any".
near_layer: a layer code or "none"; radius_m: metres the question gives, else 0.
text: the words left that describe what to search for (a street, an object), else "".
"""


class _Answer(BaseModel):
    categories: list[str]
    districts: list[str]
    agencies: list[str]
    statuses: list[str]
    time_kind: str
    n: int
    overdue: Literal["yes", "no", "any"]
    near_layer: str
    radius_m: int
    text: str


def _lines(terms: list[Term]) -> str:
    return "\n".join(f"- {t.code}: " + " / ".join(dict.fromkeys(t.labels.values())) for t in terms) \
        or "- (none)"


def _enum_list(values: list[str]) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string", "enum": values}} if values else \
        {"type": "array", "maxItems": 0, "items": {"type": "string"}}


def answer_schema(vocabulary: AskVocabulary) -> dict[str, Any]:
    """The JSON schema of the answer: every code an enum of the city's own."""
    properties: dict[str, Any] = {
        "categories": _enum_list(vocabulary.codes("categories")),
        "districts": _enum_list(vocabulary.codes("districts")),
        "agencies": _enum_list(vocabulary.codes("agencies")),
        "statuses": _enum_list(list(STATUSES)),
        "time_kind": {"type": "string", "enum": list(TIME_KINDS)},
        "n": {"type": "integer", "minimum": 0, "maximum": 3650},
        "overdue": {"type": "string", "enum": ["yes", "no", "any"]},
        "near_layer": {"type": "string", "enum": ["none", *vocabulary.codes("layers")]},
        "radius_m": {"type": "integer", "minimum": 0, "maximum": MAX_RADIUS_M},
        "text": {"type": "string", "maxLength": TEXT_MAX},
    }
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


def ask_messages(question: str, vocabulary: AskVocabulary, clock: Clock) -> list[BaseMessage]:
    layers = "\n".join(f"- {layer.code}: " + " / ".join(dict.fromkeys(layer.labels.values()))
                       + f" (default {layer.default_radius_m} m)" for layer in vocabulary.layers)
    task = _TASK.format(
        categories=_lines(vocabulary.categories), districts=_lines(vocabulary.districts),
        agencies=_lines(vocabulary.agencies), layers=layers or "- (none)",
        today=clock.today.isoformat(), weekday=WEEKDAYS[clock.today.weekday()],
        timezone=vocabulary.timezone)
    return [SystemMessage(content=f"{SHARED_SYSTEM_PREFIX}\n{task}\nPrompt {ASK_PROMPT_VERSION}."),
            HumanMessage(content=wrap_untrusted(question, "question"))]


def _window(kind: str, n: int, clock: Clock) -> Window:
    calendar = {
        "today": lambda: Window(since=clock.midnight(clock.today)),
        "yesterday": lambda: Window(since=clock.midnight(clock.today - timedelta(days=1)),
                                    until=clock.midnight(clock.today)),
        "this_week": lambda: Window(since=clock.monday()),
        "last_week": lambda: Window(since=clock.monday(1), until=clock.monday()),
        "this_month": lambda: Window(since=clock.month_start()),
        "last_month": lambda: Window(since=clock.month_start(1), until=clock.month_start()),
        "this_year": lambda: Window(since=clock.midnight(clock.today.replace(month=1, day=1))),
    }
    if kind in calendar:
        return calendar[kind]()
    if kind == "last_n_days" and n > 0:
        return Window(since=clock.back(n, "day"))
    if kind == "last_n_hours" and n > 0:
        return Window(since=clock.back(n, "hour"))
    if kind == "older_than_n_days" and n > 0:
        return Window(until=clock.back(n, "day"))
    if kind == "since_weekday" and 1 <= n <= 7:
        return Window(since=clock.since_weekday(n - 1))
    return Window()


def _known(values: list[str], allowed: list[str]) -> list[str]:
    return [v for v in dict.fromkeys(values) if v in allowed]


def filters_from_answer(answer: _Answer, vocabulary: AskVocabulary, clock: Clock) -> AskFilters:
    window = _window(answer.time_kind, answer.n, clock)
    layer = vocabulary.layer(answer.near_layer)
    near = Near(layer=layer.code, radius_m=answer.radius_m or layer.default_radius_m) \
        if layer is not None else None
    statuses: list[Status] = [s for s in STATUSES if s in answer.statuses]
    return AskFilters(
        categories=_known(answer.categories, vocabulary.codes("categories")),
        districts=_known(answer.districts, vocabulary.codes("districts")),
        agencies=_known(answer.agencies, vocabulary.codes("agencies")),
        statuses=statuses, since=window.since, until=window.until, near=near,
        overdue={"yes": True, "no": False}.get(answer.overdue), text=answer.text.strip() or None)


def parse_with_llm(question: str, vocabulary: AskVocabulary, *, chat: BaseChatModel,
                   now: datetime) -> AskParse:
    """Raises LLMUnavailable when the model cannot give a usable answer."""
    clock = Clock.at(now, vocabulary.timezone)
    data = structured_call(chat, messages=ask_messages(question, vocabulary, clock),
                           schema_name="ask_filters", json_schema=answer_schema(vocabulary),
                           max_tokens=MAX_TOKENS)
    try:
        filters = filters_from_answer(_Answer.model_validate(data), vocabulary, clock)
    except ValidationError as exc:
        raise LLMUnavailable(f"the LLM's filters do not fit the schema: {exc.errors()[0]['msg']}") \
            from exc
    language = "zh" if has_cjk(question) else "en"
    return AskParse(filters=filters, parser="llm",
                    explanation=explain(filters, vocabulary, language=language))

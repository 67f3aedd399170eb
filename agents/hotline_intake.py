"""The complaint form of the hotline and how its fields are read from what a citizen says.

Patterns read the fields first; a schema-constrained LLM call fills what they miss, and
its values are kept only when they use the citizen's own words (the small model invents
places and times otherwise). Contact details are read by pattern only: the LLM never
sees them.
"""

from __future__ import annotations

import re
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, EmailStr, Field, TypeAdapter, ValidationError

from agents.errors import LLMUnavailable
from agents.llm import structured_call
from agents.prompts import SHARED_SYSTEM_PREFIX
from agents.redaction import find_email, find_phone, redact
from agents.safety import wrap_untrusted

FormField = Literal["what", "where", "when", "contact"]
FIELDS: tuple[FormField, ...] = ("what", "where", "when", "contact")
REQUIRED: tuple[FormField, ...] = ("what", "where")
EXTRACT_PROMPT_VERSION = "hotline-extract-v1"
QUESTIONS: dict[FormField, str] = {
    "what": "What is the problem? Please describe what you saw.",
    "where": "Where is it? A street and house number, an intersection or a landmark helps the crew.",
    "when": "When did you notice it? (you can say 'skip')",
    "contact": "May the city contact you about it? Give a phone number, an e-mail address or a "
               "name, or say 'no'.",
}

_DECLINE = re.compile(r"^\s*(?:no|nope|none|skip|anonymous|n/?a|no thanks|i (?:don'?t|do not) know|"
                      r"rather not|not sure|unknown)\b", re.IGNORECASE)
_NAME = re.compile(r"\bmy name is ([A-Z][\w'-]+(?: [A-Z][\w'-]+)?)")
_WHERE = re.compile(
    r"\b(?:at|on|near|outside|opposite|behind|in front of|corner of|next to)\s+"
    r"((?:the\s+)?(?:corner of\s+)?[A-Z0-9][\w'.-]*(?:\s+(?:and|&|of)?\s*[A-Z0-9][\w'.-]*){0,6})")
_WHEN = re.compile(
    r"\b(today|yesterday|tonight|last night|this (?:morning|afternoon|evening)|"
    r"(?:since|at|around|about)\s+\d{1,2}(?::\d{2})?\s*(?:am|pm)?|\d{1,2}:\d{2}\s*(?:am|pm)?|"
    r"\d{1,2}\s*(?:am|pm)|\d{4}-\d{2}-\d{2}|(?:on |last )?(?:monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday)|(?:\d+|an?|two|three|few)\s+(?:minutes?|hours?|days?|weeks?)\s+ago|"
    r"(?:for|since)\s+(?:\d+|two|three|a few)\s+(?:days|weeks|hours))\b", re.IGNORECASE)
_PREAMBLE = re.compile(
    r"^\s*(?:(?:hi|hello|hey|good (?:morning|afternoon|evening))[,!.]?\s*)?"
    r"(?:i(?:'d| would)? (?:want|like|need)s? to (?:report|complain about|file a report about)|"
    r"i'm reporting|i am reporting|report(?:ing)?|please note)?[:,]?\s*(?:that\s+)?", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")


class ReportForm(BaseModel):
    """What the citizen reports; ``skipped`` names optional fields they chose not to give."""

    what: str | None = Field(default=None, max_length=1000)
    where: str | None = Field(default=None, max_length=300)
    when: str | None = Field(default=None, max_length=120)
    contact_name: str | None = Field(default=None, max_length=120)
    contact_phone: str | None = Field(default=None, max_length=40)
    contact_email: str | None = Field(default=None, max_length=200)
    skipped: list[FormField] = Field(default_factory=list)

    def has(self, name: FormField) -> bool:
        if name == "contact":
            return bool(self.contact_name or self.contact_phone or self.contact_email)
        return bool(getattr(self, name))

    def missing(self) -> list[FormField]:
        return [f for f in FIELDS if not self.has(f) and f not in self.skipped]

    def summary(self) -> str:
        contact = ", ".join(v for v in (self.contact_name, self.contact_phone, self.contact_email) if v)
        lines = [f"- What: {self.what or '-'}", f"- Where: {self.where or '-'}",
                 f"- When: {self.when or 'not given'}", f"- Contact: {contact or 'none (anonymous)'}"]
        return "\n".join(lines)


def _grounded(value: str, text: str) -> bool:
    words = _WORD.findall(value.lower())
    said = set(_WORD.findall(text.lower()))
    return bool(words) and sum(w in said for w in words) / len(words) >= 0.75


def pattern_fields(text: str) -> dict[str, str]:
    """The fields patterns find in ``text`` (contact included)."""
    found: dict[str, str] = {}
    if where := _WHERE.search(redact(text)):  # never a phone number or e-mail as the address
        found["where"] = where.group(1).strip(" .,")
    if when := _WHEN.search(text):
        found["when"] = when.group(1).strip()
    if phone := find_phone(text):
        found["contact_phone"] = phone
    if email := find_email(text):
        found["contact_email"] = email
    if name := _NAME.search(text):
        found["contact_name"] = name.group(1)
    what = _PREAMBLE.sub("", redact(text), count=1).strip()
    what = re.sub(r"\s*(?:\[phone\]|\[email\]|my name is [A-Z][\w'-]+(?: [A-Z][\w'-]+)?)[.,]?", "", what)
    if len(_WORD.findall(what.lower())) >= 2:
        found["what"] = what[:1000].strip(" ,")
    return found


_EXTRACT_SCHEMA = {
    "type": "object",
    "properties": {
        "what": {"type": "string", "maxLength": 200},
        "where": {"type": "string", "maxLength": 120},
        "when": {"type": "string", "maxLength": 60},
    },
    "required": ["what", "where", "when"],
    "additionalProperties": False,
}
_EXTRACT_TASK = """\
Task: a citizen is reporting a problem to the city hotline. Copy from the report what the \
problem is, where it is and when it was noticed. Use the citizen's own words. Leave a \
field as an empty string when the report does not say it.
"""


def llm_fields(chat: BaseChatModel, text: str) -> dict[str, str]:
    """What, where and when from the LLM, each kept only if it uses the citizen's words."""
    safe = redact(text)
    messages = [SystemMessage(content=SHARED_SYSTEM_PREFIX + "\n" + _EXTRACT_TASK),
                HumanMessage(content=wrap_untrusted(safe))]
    data = structured_call(chat, messages=messages, schema_name="report_form",
                           json_schema=_EXTRACT_SCHEMA, max_tokens=120)
    return {k: v.strip() for k, v in data.items()
            if k in ("what", "where", "when") and isinstance(v, str) and _usable(k, v.strip(), safe)}


def _usable(name: str, value: str, text: str) -> bool:
    """The citizen's own words, and for a place a name or number a crew can find."""
    if not _grounded(value, text):
        return False
    if name == "where":
        return bool(re.search(r"\d|\b(?!I\b)[A-Z]", value))
    if name == "when":
        return bool(_WHEN.search(value))
    return True


def read_fields(text: str, chat: BaseChatModel | None) -> tuple[dict[str, str], str | None]:
    """Fields from patterns, gaps filled by the LLM. Returns (fields, LLM error or None)."""
    found = pattern_fields(text)
    if chat is None or all(k in found for k in ("what", "where", "when")):
        return found, None
    try:
        extra = llm_fields(chat, text)
    except LLMUnavailable as exc:
        return found, str(exc)
    return {**extra, **found}, None


def fill(form: ReportForm, text: str, *, asked: FormField | None, chat: BaseChatModel | None) -> ReportForm:
    """The form with what ``text`` adds. An answer to a question fills the field asked.

    Found fields fill empty ones; contact details always update. In an answer, ``what`` is
    read only when it was the question (an address is not a description of the problem).
    """
    if asked is not None and asked not in REQUIRED and _DECLINE.match(text):
        return form.model_copy(update={"skipped": sorted({*form.skipped, asked})})
    found, _ = read_fields(text, chat if asked is None else None)
    if asked not in (None, "what"):
        found.pop("what", None)
    update: dict[str, object] = {k: v for k, v in found.items()
                                 if k.startswith("contact_") or not getattr(form, k)}
    if asked in ("what", "where", "when"):
        update[asked] = found.get(asked) or redact(text).strip()
    if asked == "contact" and not any(k.startswith("contact_") for k in found):
        if 0 < len(text.split()) <= 4:
            update["contact_name"] = text.strip()
        else:
            update["skipped"] = sorted({*form.skipped, "contact"})
    return _checked(form, update)


MIN_WHAT = 3
"""A problem described in fewer characters ("x", "?") is asked for again."""


def _checked(form: ReportForm, update: dict[str, object]) -> ReportForm:
    """``form`` with ``update``, every value within its field's limit, validated.

    A value that cannot be valid is left out (the question comes again) rather than stored:
    a stored invalid value would fail every later turn of the conversation, and the submit.
    """
    merged = form.model_dump()
    for name, value in update.items():
        if isinstance(value, str):
            value = " ".join(value.split())  # no line breaks inside a phone number or a name
            limit = _LIMITS.get(name)
            value = value[:limit] if limit else value
            if name == "what" and len(value) < MIN_WHAT:
                continue
            if name == "contact_phone" and not _PHONE_OK.fullmatch(value):
                continue
            if name == "contact_email" and not _email_ok(value):
                continue
        merged[name] = value
    return ReportForm.model_validate(merged)


_LIMITS = {name: next((m.max_length for m in info.metadata if hasattr(m, "max_length")), None)
           for name, info in ReportForm.model_fields.items()}
_EMAIL_CHECK: TypeAdapter[str] = TypeAdapter(EmailStr)
_PHONE_OK = re.compile(r"[0-9 +().-]{3,40}")  # what dispatch's Contact accepts


def _email_ok(value: str) -> bool:
    """What dispatch's ``Contact.email`` (pydantic ``EmailStr``) accepts."""
    try:
        _EMAIL_CHECK.validate_python(value)
    except ValidationError:
        return False
    return True

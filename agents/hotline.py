"""The citizen hotline: answers from official passages, takes reports, tells a ticket's status.

A library: it receives retrieval results and callables (``HotlineTools``), never a
database session. Decisions are made by rules and retrieval scores; the LLM only picks
and phrases a passage (its answer is shown only when it uses the passage's own words and
numbers) and fills gaps in a report. Phone numbers and e-mail addresses are redacted from
everything sent to the LLM or written to the log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from agents.answer_span import Embed, answer_span
from agents.errors import LLMUnavailable
from agents.hotline_intake import QUESTIONS, REQUIRED, FormField, ReportForm, fill
from agents.llm import structured_call
from agents.prompts import SHARED_SYSTEM_PREFIX
from agents.redaction import redact
from agents.safety import detect_injection, wrap_untrusted
from agents.text import clean, content_words, has_cjk

log = logging.getLogger(__name__)
ANSWER_PROMPT_VERSION = "hotline-answer-v1"
REFERENCE = re.compile(r"\b(\d{4}-\d{5,})\b")
EVENT_ID = re.compile(r"\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b", re.IGNORECASE)
_OTHERS_PEOPLE = re.compile(
    r"\b(?:other|another|someone else'?s?|other people'?s?|every(?:one|body)'?s?|all(?: the)?)\s+"
    r"(?:citizens?|people|persons?|users?|residents?|callers?|neighbou?rs?|reports|complaints|"
    r"tickets|conversations|contacts?)\b", re.IGNORECASE)
_DATA_REQUEST = re.compile(
    r"\b(?:list|show|give|print|dump|export)\b.{0,40}\b"
    r"(?:reports|tickets|complaints|conversations|database|phone numbers|e-?mails|addresses)\b",
    re.IGNORECASE)
# Changing a ticket is staff work: the hotline never resolves, closes or reassigns anything.
def _change_request(objects: str, subjects: str) -> re.Pattern[str]:
    """"<verb> … <object>" or "<subject> … as <done>": a request to change a ticket."""
    return re.compile(
        r"\b(?:mark|set|close|resolve|reopen|delete|cancel|assign|reassign|escalate|approve)\b"
        rf".{{0,40}}\b(?:{objects})\b|\b(?:{subjects})\b.{{0,40}}\b(?:as|to)\s+"
        r"(?:resolved|closed|done|fixed|deleted|complete[d]?)\b",
        re.IGNORECASE)


_STATE_CHANGE = _change_request("tickets?|reports?|cases?|requests?|complaints?",
                                "tickets?|reports?|cases?|requests?")
_TICKET_CHANGE = _change_request("tickets?|cases?", "tickets?|cases?")
"""The same, naming a ticket: refused even in the middle of a report ("report" is also a verb)."""
_COMPLAINT = re.compile(
    r"\b(?:i(?:'d| would)? (?:want|like|need)s? to (?:report|complain|file)|i'?m reporting|"
    r"i am reporting)\b", re.IGNORECASE)
_PROBLEM = re.compile(
    r"\b(?:broken|fallen|fell|down|blocked|blocking|flood(?:ed|ing)?|pothole|graffiti|garbage|trash|"
    r"litter|dumped|leak(?:ing)?|not working|out of order|dark|overflowing|abandoned|damaged|"
    r"report(?:ing)? (?:a|an))\b",
    re.IGNORECASE)
_QUESTION = re.compile(r"\?\s*$|^\s*(?:how|what|when|where|who|why|which|can|could|do|does|is|are|"
                       r"will|should|may)\b", re.IGNORECASE)
_YES = re.compile(r"^\s*(?:y|yes|yeah|yep|ok|okay|sure|correct|confirm(?:ed)?|submit|send it|"
                  r"that'?s right)\b", re.IGNORECASE)
_NO = re.compile(r"^\s*(?:no|nope|cancel|stop|never ?mind|forget it)\b", re.IGNORECASE)
_STATUS = re.compile(r"\b(?:status|happened|progress|update|news|where is|what about|check)\b",
                     re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)?")

MIN_ANSWER_SCORE = 0.45
"""The best passage's cosine similarity below which the hotline says it does not know.
Calibrated with `cityloop eval hotline --off-topic cityloop/evaluation/data/off_topic.csv`
(all-MiniLM-L6-v2, US government FAQ, one document per answer): chosen on the even half
of the answerable and the off-topic questions (0.450), it refuses 100% of the odd half's
off-topic questions and 4.2% of its answerable ones. 0.40 before refused 99.2% and 4.0%
on the index that still embedded the shared page titles."""

Mode = Literal["idle", "collecting", "confirming"]
ReplyKind = Literal["answer", "unknown", "ask", "confirm", "submitted", "cancelled", "status",
                    "not_found", "refused", "help", "error"]

REFUSAL = ("I can't do that. I answer questions about city services from the city's official "
           "pages, take a report of a problem, or tell you the public status of a ticket if you "
           "give me its number.")
HELP = ("Ask me about city services (for example bulk trash pickup or streetlight repairs), "
        "tell me about a problem to report it, or give me a ticket number to check its status.")
UNKNOWN = ("I don't know: I found nothing about that in the city's official pages, and I won't "
           "guess. If you want to report a problem, tell me what and where it is and I will take "
           "your report.")


class Passage(BaseModel):
    title: str
    source: str
    text: str
    score: float = Field(description="cosine similarity of the passage to the question")


class Citation(BaseModel):
    title: str
    source: str


class Submission(BaseModel):
    event_id: str
    reference: str | None = None


class PublicStatus(BaseModel):
    """What anyone may know about a ticket: never who reported it or what they wrote."""

    reference: str
    status: str
    category: str
    agency: str | None = None
    update: str | None = None
    """The newest public update staff wrote (a public comment or a resolve note), if any."""


class HotlineState(BaseModel):
    mode: Mode = "idle"
    form: ReportForm = Field(default_factory=ReportForm)
    asked: FormField | None = None
    submitted: list[Submission] = Field(default_factory=list)


class Reply(BaseModel):
    kind: ReplyKind
    text: str
    citations: list[Citation] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    submission: Submission | None = None
    status: PublicStatus | None = None
    answered_by: Literal["llm", "extract", "rules"] = "rules"


class HotlineConfig(BaseModel):
    min_score: float = Field(default=MIN_ANSWER_SCORE, ge=0, le=1)
    """The best passage's cosine similarity to the question below which the hotline says it
    does not know."""
    max_passages: int = Field(default=3, ge=1, le=8)
    answer_max_tokens: int = Field(default=160, ge=40, le=1000)


@dataclass
class HotlineTools:
    retrieve: Callable[[str], list[Passage]]
    submit: Callable[[ReportForm], Submission]
    lookup: Callable[[str], PublicStatus | None]
    chat: BaseChatModel | None = None
    embed: Embed | None = None
    """Sentence embeddings, to find the sentence of a passage that answers the question."""


def respond(
    text: str, state: HotlineState, tools: HotlineTools, config: HotlineConfig | None = None,
) -> tuple[Reply, HotlineState]:
    """One turn: the reply and the conversation's next state."""
    config = config or HotlineConfig()
    text = clean(text).text.strip()
    if not text:
        return Reply(kind="help", text=HELP), state
    reference = REFERENCE.search(text) or EVENT_ID.search(text)
    # A citizen describing a problem says "a graffiti mark … I want to report it" or "it
    # bothers all the neighbours": only text about existing tickets is held to the staff-work
    # and other-people's-data rules; a report in progress only fills a form.
    reporting = not reference and (state.mode == "collecting" or bool(_COMPLAINT.search(text)))
    if detect_injection(text) or _DATA_REQUEST.search(text) or _TICKET_CHANGE.search(text) or (
        not reporting and (_OTHERS_PEOPLE.search(text) or _STATE_CHANGE.search(text))
    ):
        log.info("hotline: refused %r", redact(text)[:200])
        return Reply(kind="refused", text=REFUSAL), state
    if reference and (state.mode == "idle" or _STATUS.search(text)):
        return status_reply(reference.group(1), tools), state
    if state.mode == "confirming":
        return _confirming(text, state, tools)
    if state.mode == "collecting":
        if _NO.match(text) and state.asked in REQUIRED:
            return Reply(kind="cancelled", text="All right, I have not submitted anything."), HotlineState(
                submitted=state.submitted)
        form = fill(state.form, text, asked=state.asked, chat=None)
        return _next_step(state.model_copy(update={"form": form}))
    if _COMPLAINT.search(text) or (_PROBLEM.search(text) and not _QUESTION.search(text)):
        # "I want to report ..." always starts a report; a problem word only outside a question
        form = fill(ReportForm(), text, asked=None, chat=tools.chat)
        return _next_step(state.model_copy(update={"mode": "collecting", "form": form}))
    return answer(text, tools, config), state


def _next_step(state: HotlineState) -> tuple[Reply, HotlineState]:
    missing = state.form.missing()
    if missing:
        ask = missing[0]
        return (Reply(kind="ask", text=QUESTIONS[ask], missing=list(missing)),
                state.model_copy(update={"mode": "collecting", "asked": ask}))
    text = f"Please check your report:\n{state.form.summary()}\nShall I submit it? (yes / no)"
    return Reply(kind="confirm", text=text), state.model_copy(update={"mode": "confirming", "asked": None})


def _confirming(text: str, state: HotlineState, tools: HotlineTools) -> tuple[Reply, HotlineState]:
    if _YES.match(text):
        submission = tools.submit(state.form)
        log.info("hotline: report submitted as event %s", submission.event_id)
        done = (f"Thank you, your report is registered under the id {submission.event_id}. It "
                "gets a ticket number as soon as it is sent to the responsible department; ask "
                f"me \"what happened to my report {submission.event_id}?\" to hear its status.")
        return (Reply(kind="submitted", text=done, submission=submission),
                HotlineState(submitted=[*state.submitted, submission]))
    if _NO.match(text):
        return (Reply(kind="cancelled", text="All right, I have not submitted anything."),
                HotlineState(submitted=state.submitted))
    form = fill(state.form, text, asked=None, chat=None)  # a correction
    return _next_step(state.model_copy(update={"form": form}))


def status_reply(reference: str, tools: HotlineTools) -> Reply:
    found = tools.lookup(reference)
    if found is None:
        return Reply(kind="not_found", text=f"I found no ticket or report {reference}. Please "
                     "check the number: a ticket number looks like 2026-00123.")
    who = f", handled by {found.agency}" if found.agency else ""
    text = (f"{found.reference}: status {found.status.replace('_', ' ')}; category "
            f"{found.category}{who}.")
    if found.update:
        text += f" Latest update: {found.update}"
    return Reply(kind="status", text=text, status=found)


def answer(question: str, tools: HotlineTools, config: HotlineConfig) -> Reply:
    """An answer from the retrieved passages with its citation, or "I don't know"."""
    passages = tools.retrieve(redact(question))[: config.max_passages]
    if not passages or max(p.score for p in passages) < config.min_score:
        return Reply(kind="unknown", text=UNKNOWN)
    by: Literal["llm", "extract", "rules"] = "extract"
    chosen, text = passages[0], ""
    if tools.chat is not None:
        try:
            index, drafted = choose_and_draft(tools.chat, question, passages, config.answer_max_tokens)
            chosen = passages[index]
            if grounded(drafted, chosen.text):
                text, by = drafted, "llm"
        except LLMUnavailable as exc:
            log.warning("hotline: LLM unavailable, answering by extract: %s", exc)
    if not text:
        text = answer_span(question, chosen.text, title=chosen.title, embed=tools.embed)
    return Reply(kind="answer", text=f"{text}\n\nSource: {chosen.title} ({chosen.source})",
                 citations=[Citation(title=chosen.title, source=chosen.source)], answered_by=by)


_ANSWER_TASK = """\
Task: a citizen asks the question in the report below. Answer it using only one of the \
official passages listed here, in one or two sentences, and give the number of the \
passage you used. Copy facts, numbers and times exactly from that passage.

Passages:
{passages}
"""


def choose_and_draft(chat: BaseChatModel, question: str, passages: list[Passage],
                     max_tokens: int) -> tuple[int, str]:
    """(index of the passage the LLM used, its draft answer)."""
    listing = "\n".join(f"[{i}] {p.title}: {p.text}" for i, p in enumerate(passages, start=1))
    schema = {"type": "object", "additionalProperties": False, "required": ["passage", "answer"],
              "properties": {"passage": {"type": "integer", "enum": list(range(1, len(passages) + 1))},
                             "answer": {"type": "string", "maxLength": 400}}}
    messages = [SystemMessage(content=SHARED_SYSTEM_PREFIX + "\n" + _ANSWER_TASK.format(passages=listing)),
                HumanMessage(content=wrap_untrusted(redact(question)))]
    data = structured_call(chat, messages=messages, schema_name="hotline_answer",
                           json_schema=schema, max_tokens=max_tokens)
    number = data.get("passage")
    if not isinstance(number, int) or not 1 <= number <= len(passages):
        raise LLMUnavailable(f"passage number out of range: {number!r}")
    return number - 1, str(data.get("answer", "")).strip()


def grounded(draft: str, passage: str) -> bool:
    """Every number of ``draft`` and nearly all of its content words occur in ``passage``.

    Words come from ``agents.text.content_words`` (jieba for Chinese); a Chinese word the
    passage holds but segments differently still counts (it occurs in the passage's text).
    """
    words = content_words(draft)
    if len(words) < 3:
        return False
    said = content_words(passage)
    plain = clean(passage).text.lower()
    if any(n not in passage for n in _NUMBER.findall(draft)):
        return False
    present = sum(w in said or (has_cjk(w) and w in plain) for w in words)
    return present / len(words) >= 0.9

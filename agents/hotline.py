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
from agents.hotline_intake import REQUIRED, FormField, ReportForm, fill, questions
from agents.hotline_phrases import (
    ENGLISH,
    PHRASES,
    RATING_LABELS,
    Language,
    Phrases,
    Rating,
    any_language,
    conversation_language,
    rating_in,
)
from agents.llm import structured_call
from agents.prompts import SHARED_SYSTEM_PREFIX
from agents.redaction import find_phone, redact
from agents.safety import detect_injection, wrap_untrusted
from agents.text import clean, content_words, has_cjk

log = logging.getLogger(__name__)
ANSWER_PROMPT_VERSION = "hotline-answer-v2"
# No digit (or hex letter) may touch a reference: "工单2026-00012怎么样了" has none of the
# word boundaries English text puts around it.
REFERENCE = re.compile(r"(?<![0-9])(\d{4}-\d{5,})(?![0-9])")
EVENT_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
                      r"(?![0-9a-f])", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)?")
_FILLER = re.compile(
    r"(?:我的)?(?:联系)?(?:电话|手机号?码?|号码)?(?:是|为)?\s*\[phone\]|\[(?:phone|email|id card)\]|"
    r"^\s*(?:我对|对)?(?:工单|案件|ticket)?(?:的(?:处理|办理)(?:结果)?)?\s*(?:很|非常|还是)?"
    r"|(?:my )?(?:phone|number)(?: is)?\s*$", re.IGNORECASE)

MIN_ANSWER_SCORE = 0.45
"""The best passage's cosine similarity below which the hotline says it does not know.
Calibrated with `cityloop eval hotline --off-topic cityloop/evaluation/data/off_topic.csv`
(all-MiniLM-L6-v2, US government FAQ, one document per answer): chosen on the even half
of the answerable and the off-topic questions (0.450), it refuses 100% of the odd half's
off-topic questions and 4.2% of its answerable ones. 0.40 before refused 99.2% and 4.0%
on the index that still embedded the shared page titles."""
MIN_LEXICAL_SCORE = 0.34
"""The best passage's weighted lexical coverage (``dispatch.hotline.kb.weighted_coverage``)
below which the hotline says it does not know, for questions its embedding model cannot
read. Calibrated with ``cityloop eval hotline --data ../shared/data/zh/beijing_gov_faq.csv
--off-topic cityloop/evaluation/data/off_topic.csv --off-topic-language zh`` on the even
half of the 2,275 answerable and 80 off-topic Chinese questions, BM25's top passage (0.342):
on the odd half it refuses 80.0% of the off-topic questions and 11.8% of the answerable
ones; plain coverage, calibrated the same way, 75.0% and 12.4%."""

Mode = Literal["idle", "collecting", "confirming", "rating"]
ReplyKind = Literal["answer", "unknown", "ask", "confirm", "submitted", "cancelled", "status",
                    "not_found", "refused", "help", "error", "rating", "rated"]

REFUSAL = ENGLISH.refusal
HELP = ENGLISH.help
UNKNOWN = ENGLISH.unknown


class Passage(BaseModel):
    title: str
    source: str
    text: str
    score: float = Field(description="how well the passage answers the question (``measure``)")
    measure: Literal["cosine", "lexical"] = "cosine"
    """``cosine``: similarity of the passage to the question; ``lexical``: its weighted
    coverage of the question's words, where the embedding model cannot read the question."""


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
    awaiting_rating: bool = False
    """Resolved, in a city whose workflow calls the citizen back (回访) for a rating."""


class RatingRequest(BaseModel):
    """A citizen's callback rating of a ticket, as the hotline took it."""

    reference: str
    rating: Rating
    note: str | None = Field(default=None, max_length=1000)
    phone: str | None = Field(default=None, max_length=40)
    """The phone number the citizen gives to show the report was theirs."""
    events: list[str] = Field(default_factory=list)
    """The reports this conversation submitted: a ticket of one of them is the caller's."""


RatingOutcome = Literal["closed", "reopened", "unverified", "not_allowed", "not_found"]


class HotlineState(BaseModel):
    mode: Mode = "idle"
    form: ReportForm = Field(default_factory=ReportForm)
    asked: FormField | None = None
    submitted: list[Submission] = Field(default_factory=list)
    language: Language | None = None
    rating_for: str | None = None
    """The ticket whose rating the hotline asked for."""
    pending: RatingRequest | None = None
    """A rating waiting for the caller's phone number."""


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
    min_lexical_score: float = Field(default=MIN_LEXICAL_SCORE, ge=0, le=1)
    """The same for a passage scored by lexical coverage (``Passage.measure``)."""
    max_passages: int = Field(default=3, ge=1, le=8)
    answer_max_tokens: int = Field(default=160, ge=40, le=1000)
    language: str = Field(default="en", pattern=r"^[a-z]{2}(?:[_-][A-Za-z]{2,4})?$")
    """The city's language: the hotline's replies when a message does not show its own."""


@dataclass
class HotlineTools:
    retrieve: Callable[[str], list[Passage]]
    submit: Callable[[ReportForm], Submission]
    lookup: Callable[[str], PublicStatus | None]
    chat: BaseChatModel | None = None
    embed: Embed | None = None
    """Sentence embeddings, to find the sentence of a passage that answers the question."""
    rate: Callable[[RatingRequest], RatingOutcome] | None = None
    """Records a callback rating (回访); None where the city has no callback step."""


def _refused(text: str, *, reporting: bool) -> bool:
    """Text the hotline does not act on: an injection, a request for data or to change a ticket.

    A citizen describing a problem says "a graffiti mark … I want to report it" or "it
    bothers all the neighbours": only text about existing tickets is held to the staff-work
    and other-people's-data rules; a report in progress only fills a form.
    """
    return bool(detect_injection(text)) or any_language("data_request", text) or any_language(
        "ticket_change", text) or (not reporting and (
            any_language("others_people", text) or any_language("state_change", text)))


def respond(
    text: str, state: HotlineState, tools: HotlineTools, config: HotlineConfig | None = None,
) -> tuple[Reply, HotlineState]:
    """One turn: the reply and the conversation's next state, in the conversation's language."""
    config = config or HotlineConfig()
    text = clean(text).text.strip()  # also Traditional Chinese → Simplified
    language = conversation_language(text, state.language, config.language)
    say = PHRASES[language]
    reference = REFERENCE.search(text) or EVENT_ID.search(text)
    reporting = not reference and (state.mode == "collecting" or any_language("complaint", text))
    if not text or _refused(text, reporting=reporting):  # the conversation stays as it was
        if text:
            log.info("hotline: refused %r", redact(text)[:200])
        return Reply(kind="refused" if text else "help", text=say.refusal if text else say.help), state
    state = state.model_copy(update={"language": language})
    rated = rating_in(text) if tools.rate is not None else None
    if reference and rated and state.mode in ("idle", "rating"):
        found = tools.lookup(reference.group(1))
        if found is not None and found.awaiting_rating:  # else it is a question about it
            return _rate(_rating(found.reference, rated, text, state), state, tools, say)
    if state.mode == "rating" and not reference:
        return _rating_turn(text, state, tools, say, config)
    if reference and (state.mode in ("idle", "rating") or any_language("status", text)):
        return _status_turn(reference.group(1), state, tools, say)
    if state.mode == "confirming":
        return _confirming(text, state, tools, say)
    if state.mode == "collecting":
        if any_language("no", text) and state.asked in REQUIRED:
            return Reply(kind="cancelled", text=say.cancelled), HotlineState(
                submitted=state.submitted, language=language)
        form = fill(state.form, text, asked=state.asked, chat=None)
        return _next_step(state.model_copy(update={"form": form}))
    if any_language("complaint", text) or (
            any_language("problem", text) and not any_language("question", text)):
        # "I want to report ..." always starts a report; a problem word only outside a question
        form = fill(ReportForm(language=language), text, asked=None, chat=tools.chat)
        return _next_step(state.model_copy(update={"mode": "collecting", "form": form}))
    return answer(text, tools, config, say), state


def _rating(reference: str, rated: tuple[Rating, str], text: str, state: HotlineState) -> RatingRequest:
    rating, comment = rated
    comment = _FILLER.sub(" ", REFERENCE.sub(" ", redact(comment)))
    comment = " ".join(comment.split()).strip(" ,，。.!！;；:：")
    return RatingRequest(reference=reference, rating=rating,
                         note=comment[:1000] if len(comment) >= 2 else None,
                         phone=find_phone(text), events=[s.event_id for s in state.submitted])


def _rating_turn(text: str, state: HotlineState, tools: HotlineTools, say: Phrases,
                 config: HotlineConfig) -> tuple[Reply, HotlineState]:
    """An answer to "how satisfied are you?", or the phone number a pending rating waits for."""
    phone = find_phone(text)
    if state.pending is not None and phone:
        return _rate(state.pending.model_copy(update={"phone": phone}), state, tools, say)
    rated = rating_in(text)
    if rated and state.rating_for:
        return _rate(_rating(state.rating_for, rated, text, state), state, tools, say)
    idle = state.model_copy(update={"mode": "idle", "rating_for": None, "pending": None})
    if any_language("no", text):
        return Reply(kind="cancelled", text=say.rating_skipped), idle
    if any_language("complaint", text) or any_language("question", text):
        return respond(text, idle, tools, config)
    return Reply(kind="rating", text=say.rating_again), state


def _rate(request: RatingRequest, state: HotlineState, tools: HotlineTools,
          say: Phrases) -> tuple[Reply, HotlineState]:
    """Record the rating (``tools.rate``): 不满意 reopens the ticket, the others close it."""
    assert tools.rate is not None
    outcome = tools.rate(request)
    log.info("hotline: rating %s of %s: %s", request.rating, request.reference, outcome)
    idle = state.model_copy(update={"mode": "idle", "rating_for": None, "pending": None})
    label = RATING_LABELS[say.language][request.rating]
    if outcome in ("closed", "reopened"):
        template = say.rated_closed if outcome == "closed" else say.rated_reopened
        return Reply(kind="rated", text=template.format(rating=label, reference=request.reference)), idle
    if outcome == "unverified" and request.phone is None:
        return (Reply(kind="rating", text=say.rating_unverified.format(reference=request.reference)),
                state.model_copy(update={"mode": "rating", "rating_for": request.reference,
                                         "pending": request}))
    if outcome == "not_found":
        return Reply(kind="not_found", text=say.not_found.format(reference=request.reference)), idle
    return Reply(kind="refused", text=say.rating_refused.format(reference=request.reference)), idle


def _status_turn(reference: str, state: HotlineState, tools: HotlineTools,
                 say: Phrases) -> tuple[Reply, HotlineState]:
    reply = status_reply(reference, tools, say)
    if reply.status is None or not reply.status.awaiting_rating or tools.rate is None:
        return reply, state.model_copy(update={"mode": "idle", "rating_for": None, "pending": None})
    asked = reply.model_copy(update={
        "kind": "rating", "text": f"{reply.text}\n{say.ask_rating.format(reference=reply.status.reference)}"})
    return asked, state.model_copy(update={"mode": "rating", "rating_for": reply.status.reference,
                                           "pending": None})


def _next_step(state: HotlineState) -> tuple[Reply, HotlineState]:
    form = state.form
    say = PHRASES[form.language]
    missing = form.missing()
    if missing:
        ask = missing[0]
        question = questions(form.language)[ask]
        if ask == "contact" and form.bad_phone:
            question = say.phone_invalid
        return (Reply(kind="ask", text=question, missing=list(missing)),
                state.model_copy(update={"mode": "collecting", "asked": ask}))
    text = say.confirm.format(summary=form.summary())
    return Reply(kind="confirm", text=text), state.model_copy(update={"mode": "confirming", "asked": None})


def _confirming(text: str, state: HotlineState, tools: HotlineTools,
                say: Phrases) -> tuple[Reply, HotlineState]:
    if any_language("yes", text):
        submission = tools.submit(state.form)
        log.info("hotline: report submitted as event %s", submission.event_id)
        done = say.submitted.format(event_id=submission.event_id)
        return (Reply(kind="submitted", text=done, submission=submission),
                HotlineState(submitted=[*state.submitted, submission], language=state.language))
    if any_language("no", text):
        return (Reply(kind="cancelled", text=say.cancelled),
                HotlineState(submitted=state.submitted, language=state.language))
    form = fill(state.form, text, asked=None, chat=None, correction=True)
    return _next_step(state.model_copy(update={"form": form}))


STATUS_NAMES: dict[str, dict[str, str]] = {
    "zh": {"received": "已受理（尚未派单）", "triage": "待分派", "open": "已派单",
           "acknowledged": "已签收", "in_progress": "办理中", "resolved": "已办结",
           "closed": "已回访结案", "rejected": "已退回，待重新派单"},
}


def status_reply(reference: str, tools: HotlineTools, say: Phrases = ENGLISH) -> Reply:
    found = tools.lookup(reference)
    if found is None:
        return Reply(kind="not_found", text=say.not_found.format(reference=reference))
    if say.language == "zh":
        status = STATUS_NAMES["zh"].get(found.status.split(" ")[0], found.status)
        text = f"工单 {found.reference}：状态 {status}；类别 {found.category}"
        text += f"；承办单位 {found.agency}。" if found.agency else "。"
        if found.update:
            text += f"最新进展：{found.update}"
        return Reply(kind="status", text=text, status=found)
    who = f", handled by {found.agency}" if found.agency else ""
    text = (f"{found.reference}: status {found.status.replace('_', ' ')}; category "
            f"{found.category}{who}.")
    if found.update:
        text += f" Latest update: {found.update}"
    return Reply(kind="status", text=text, status=found)


def threshold(passage: Passage, config: HotlineConfig) -> float:
    return config.min_lexical_score if passage.measure == "lexical" else config.min_score


def _best_score(passages: list[Passage]) -> float:
    """What the threshold is held against: the best cosine of the passages; by words, the
    top passage's own coverage (the retriever's first, which the threshold was calibrated
    on, and the one an answer without the LLM is taken from)."""
    if passages[0].measure == "lexical":
        return passages[0].score
    return max(p.score for p in passages)


def answer(question: str, tools: HotlineTools, config: HotlineConfig, say: Phrases = ENGLISH) -> Reply:
    """An answer from the retrieved passages with its citation, or "I don't know"."""
    passages = tools.retrieve(redact(question))[: config.max_passages]
    if not passages or _best_score(passages) < threshold(passages[0], config):
        return Reply(kind="unknown", text=say.unknown)
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
        # the sentence by the words the question shares with it where the embedding model
        # cannot read the question (it was retrieved by words too)
        embed = tools.embed if chosen.measure == "cosine" else None
        text = answer_span(question, chosen.text, title=chosen.title, embed=embed)
    return Reply(kind="answer", text=f"{text}\n\n{say.cite.format(title=chosen.title, source=chosen.source)}",
                 citations=[Citation(title=chosen.title, source=chosen.source)], answered_by=by)


_ANSWER_TASK = """\
Task: a citizen asks the question in the report below. Answer it using only one of the \
official passages listed here, in one or two sentences, and give the number of the \
passage you used. Copy facts, numbers and times exactly from that passage. Answer in the \
language of the passage (中文 for a Chinese passage).

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

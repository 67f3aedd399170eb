"""The sentences the system writes about a ticket (routing reasons, triage reasons, the notes
of its own actors in a ticket's history, the "show similar" explanation), each defined once,
and shown in the reader's language. The duplicate judge's reasons are marked where they are
written (``agents.duplicates``: the agents do not import dispatch) and wrapped here.

A ``Message`` is an English gettext template marked ``N_`` (so it is in the catalog). The code
that decides something stores ``MESSAGE(**values)``: plain English, as the JSON API and older
rows have it. A page shows ``localize(text, reader)``: the stored text is matched against every
template (a regex made from the template, anchored at both ends), and the match is re-written
from the reader's catalog with its values, codes shown by their city names. Several messages
joined by ``"; "`` are localized one by one. Text that matches nothing (older rows, a person's
note) comes back as it is, with ``known`` False.

A value is ``text`` (a rule id or a reference: shown as stored), a code of the city
(``category``, ``agency``), a fixed code with a label (``priority``, ``flag``, ``source``,
``channel``), ``moment`` (an ISO time, shown in the reader's format), ``message`` (another
message, localized in turn; the template matches only if it is one), ``explanation`` (another
message if it is one, else a detail) or ``detail`` (free-form technical text such as an error:
kept as stored, marked English on another language's page).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Literal, NamedTuple

from markupsafe import Markup, escape

from agents import duplicates
from dispatch import i18n
from dispatch.i18n import N_

Kind = Literal["text", "category", "agency", "priority", "flag", "source", "channel", "moment",
               "message", "explanation", "detail"]
PLACEHOLDER = re.compile(r"%\((\w+)\)([-#0 +]*\d*(?:\.\d+)?[sdf])")
SEPARATOR = "; "
SEPARATORS = {"zh": "；"}
"""How a language joins several messages (English: ``"; "``, as they are stored)."""

CHANNEL_LABELS: dict[str, str] = {
    "inbox": N_("inbox"), "email": N_("e-mail"), "webhook": N_("webhook"), "mqtt": N_("message bus"),
}
ESCALATION_CHANNEL = N_("escalation e-mail, level %(level)s")
CHANGE_CHANNEL = N_("message-bus notice of change %(number)s")


CODE_KINDS = frozenset({"category", "agency", "priority", "flag", "source", "channel"})
CODE_VALUE = r"[\w.:-]+"
"""What a code in a message may be: one word of letters (any script), digits and ``_.:-``."""


@dataclass(frozen=True, eq=False)
class Message:
    """One machine-written sentence: ``RULE_MATCHED(rule="r1")`` → ``"rule 'r1' matched"``."""

    template: str
    kinds: Mapping[str, Kind] = field(default_factory=dict)

    def __call__(self, **values: object) -> str:
        return self.template % values

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        parts, end = [], 0
        for found in PLACEHOLDER.finditer(self.template):
            parts.append(re.escape(self.template[end:found.start()]))
            conversion = found.group(2)[-1]
            value = {"d": r"-?\d+", "f": r"-?\d+(?:\.\d+)?"}.get(conversion, r".+?")
            if self.kinds.get(found.group(1), "text") in CODE_KINDS:
                value = CODE_VALUE  # a code, never a sentence: "pothole gone. the cone is" is none
            parts.append(f"(?P<{found.group(1)}>{value})")
            end = found.end()
        parts.append(re.escape(self.template[end:]))
        return re.compile("".join(parts), re.DOTALL)


# ---------------------------------------------------------------- routing (RoutingDecision.reason)
RULE_MATCHED = Message(N_("rule '%(rule)s' matched"))
DEFAULT_AGENCY = Message(N_("no rule matched; default agency of '%(category)s'"),
                         {"category": "category"})
LEARNED_CHOSE = Message(
    N_("no rule matched; learned router v%(version)d chose %(agency)s (%(confidence).2f)"),
    {"agency": "agency"})
NO_AGENCY_LEFT = Message(N_("no agency left"))
NO_RULE_NO_LLM = Message(N_("no rule matched and the LLM is not configured"))
LLM_UNAVAILABLE = Message(N_("no rule matched; LLM unavailable: %(error)s"), {"error": "detail"})
LLM_CHOSE = Message(N_("no rule matched; LLM chose %(agency)s"), {"agency": "agency"})
LLM_UNSURE = Message(N_("LLM confidence %(confidence).2f below threshold %(threshold).2f"))
REJECTED_TOO_OFTEN = Message(N_("rejected %(count)d times; a dispatcher decides"))
REASSIGNED = Message(N_("reassigned by a dispatcher"))

# ---------------------------------------------------------------- triage (Incident.triage_reasons)
CLASSIFIER_FALLBACK = Message(
    N_("classifier: no keyword or embedding match (%(why)s); a dispatcher should confirm the "
       "category"), {"why": "explanation"})
LLM_CLASSIFICATION_OFF = Message(N_("LLM classification is off"))
LLM_ONLY_CATEGORY = Message(
    N_("category '%(category)s' chosen by the LLM alone (confidence %(confidence).2f); a "
       "dispatcher should confirm it"), {"category": "category"})
SNAPSHOT_REJECTED = Message(N_("verifier: the snapshot does not show '%(category)s'"),
                            {"category": "category"})
WRITER_FAILED = Message(N_("writer: %(error)s"), {"error": "detail"})
LLM_NOT_CONFIGURED = Message(N_("LLM not configured"))
FLAG_RAISED = Message(N_("flag %(flag)s: %(why)s"), {"flag": "flag", "why": "explanation"})
FLAG_PROMPT_INJECTION = Message(
    N_("the text addresses the system (instructions, role markers, tags or JSON); it was "
       "treated as data only"))
FLAG_PRIORITY_DEMAND = Message(
    N_("the text demands a priority, severity or SLA; priority comes from the city file, rules "
       "and staff only"))
FLAG_ROUTING_DEMAND = Message(N_("the text demands an agency; routing follows the city's rules"))
FLAG_INVISIBLE = Message(
    N_("the text contained invisible characters (marked on the ticket page)"))
FLAG_OTHER = Message(N_("raised at intake"))

# ---------------------------------------------------------------- notes in a ticket's history
RECATEGORIZED_WITH_NOTE = Message(N_("category %(before)s → %(after)s: %(note)s"),
                                  {"before": "category", "after": "category"})
RECATEGORIZED = Message(N_("category %(before)s → %(after)s"),
                        {"before": "category", "after": "category"})

DELIVERED = Message(N_("delivered to the %(agency)s %(channel)s"),
                    {"agency": "agency", "channel": "channel"})
SENT = Message(N_("sent to the %(agency)s %(channel)s"), {"agency": "agency", "channel": "channel"})
DELIVERY_FAILED = Message(
    N_("%(channel)s delivery to %(agency)s failed after %(attempts)d tries: %(error)s"),
    {"channel": "channel", "agency": "agency", "error": "detail"})
DELIVERY_RETRY = Message(N_("retry of the %(channel)s delivery to %(agency)s"),
                         {"channel": "channel", "agency": "agency"})
SLA_PASSED = Message(N_("SLA due %(due)s passed"), {"due": "moment"})
ESCALATED_AFTER = Message(
    N_("SLA escalation level %(level)d (%(hours)s h after the due time %(due)s UTC)"))
ESCALATED_AT_ONCE = Message(N_("SLA escalation level %(level)d (at once after the due time %(due)s UTC)"))
PRIORITY_RAISED = Message(N_("priority %(before)s -> %(after)s"),
                          {"before": "priority", "after": "priority"})
NOTIFIED_BY_EMAIL = Message(N_("supervisor notified by e-mail: %(emails)s"))
NOTIFIED_IN_INBOX = Message(N_("supervisor notified in the inbox"))
EVENT_MERGED = Message(N_("%(source)s event merged into this incident: %(why)s"),
                       {"source": "source", "why": "explanation"})
DUPLICATE_REASONS: tuple[Message, ...] = tuple(
    Message(reason, {"why": "explanation"}) for reason in duplicates.REASONS)
"""Why the duplicate judge merged an event (or did not): its templates are marked in
``agents.duplicates``, which writes them."""
RECHECK_PRESENT_SCORED = Message(
    N_("camera %(camera)s zone %(zone)s: %(category)s still present (score %(score).2f)"),
    {"category": "category"})
RECHECK_PRESENT = Message(N_("camera %(camera)s zone %(zone)s: %(category)s still present"),
                          {"category": "category"})
RECHECK_GONE_SCORED = Message(
    N_("camera %(camera)s zone %(zone)s: %(category)s gone (score %(score).2f)"),
    {"category": "category"})
RECHECK_GONE = Message(N_("camera %(camera)s zone %(zone)s: %(category)s gone"),
                       {"category": "category"})
SNAPSHOT_TOO_LARGE = Message(N_("snapshot dropped: %(size)d bytes is over %(limit)d"))
SNAPSHOT_NOT_JPEG = Message(N_("snapshot dropped: not a JPEG"))
RECHECK_CLOSED = Message(N_("closed: the camera re-check found the zone clear"))
RECHECK_SKIPPED = Message(N_("camera re-check skipped: %(why)s"), {"why": "explanation"})
RECHECK_OFF = Message(N_("perception is off: no re-check runner is configured"))
RECHECK_UNAVAILABLE = Message(N_("runner unavailable: %(error)s"), {"error": "detail"})
RECHECK_FAILED = Message(N_("runner failed: %(error)s"), {"error": "detail"})

# ---------------------------------------------------------------- the write-up without an LLM
UNKNOWN_LOCATION = Message(N_("unknown location"))
"""``agents.writer.location_phrase`` of an event with no place (the agents do not import
dispatch; a test keeps the two in step)."""

# ---------------------------------------------------------------- "show similar"
SIMILAR_BY_TEXT = Message(
    N_("the %(count)d tickets most like %(reference)s by the meaning of their reports"))
SIMILAR_NO_EMBEDDING = Message(N_("this ticket has no text embedding (embeddings are off)"))
SIMILAR_BY_PICTURE = Message(N_("%(count)d by what the camera saw"))

# ---------------------------------------------------------------- refusals (InvalidField.message)
# What a form's field was refused for, with its limit; a page names the field by its label
# (``i18n.FIELD_LABELS``) and shows the refusal in the reader's language.
TOO_LONG = Message(N_("at most %(limit)d characters"))
OVER_CHARACTER_LIMIT = Message(N_("%(length)d characters is over the limit of %(limit)d"))
COMMENT_EMPTY = Message(N_("a comment cannot be empty"))
TRIAGE_HAS_NO_AGENCY = Message(N_("a ticket in triage has no agency to assign within"))
NOT_A_COLLEAGUE = Message(N_("'%(user)s' is not an active colleague of '%(agency)s'"),
                          {"agency": "agency"})
CHOOSE_COLLEAGUE = Message(N_("choose a colleague to assign the tickets to"))
FILE_EMPTY = Message(N_("the file is empty"))
FILE_TOO_LARGE = Message(N_("the file is over the limit of %(limit)d bytes"))
FILE_TYPE = Message(N_("the file is not one of the allowed types: %(types)s"))
CHOOSE_FILE = Message(N_("choose a file to attach"))
PHOTO_ONLY_ON_RESOLVE = Message(N_("only a resolution takes a photo"))
REASON_REQUIRED = Message(N_("a reason is required to reject a ticket"))
NO_CALLBACK_STEP = Message(
    N_("this city's workflow has no callback step (%(setting)s in the city file)"))
RATING_REQUIRED = Message(N_("a rating is required for a callback: %(ratings)s"))
AGENCY_REQUIRED = Message(N_("an agency code is required to reassign a ticket"))
CATEGORY_REQUIRED = Message(N_("a category code is required to change the category"))
ALREADY_FILED_UNDER = Message(N_("the ticket is already filed under '%(category)s'"),
                              {"category": "category"})
CONTROL_CHARACTER = Message(
    N_("must not contain control characters (%(code)s at position %(position)d)"))
LONE_SURROGATE = Message(N_("must be valid Unicode text (a lone surrogate at position %(position)d)"))

# ---------------------------------------------------------------- a finding and its detail
# (tried last: they match whenever their finding is a message)
RECHECK_NOTE = Message(N_("%(finding)s. %(detail)s"), {"finding": "message", "detail": "detail"})
RECHECK_FINDING = Message(N_("%(finding)s."), {"finding": "message"})

MESSAGES: tuple[Message, ...] = (
    *(value for value in globals().values()
      if isinstance(value, Message) and value not in (RECHECK_NOTE, RECHECK_FINDING)),
    *DUPLICATE_REASONS, RECHECK_NOTE, RECHECK_FINDING)
"""Every message, in the order they are tried (the first whole match wins)."""
PEOPLE_MESSAGES: tuple[Message, ...] = (RECATEGORIZED_WITH_NOTE, RECATEGORIZED, REASSIGNED,
                                        DELIVERY_RETRY, UNKNOWN_LOCATION)
"""The messages the system writes where a person's words stand: the note of a category change
or a retried delivery (the person's action), a reassignment without a note, the write-up's
place without one."""


# ---------------------------------------------------------------- showing them

@dataclass(frozen=True)
class Reader:
    """Who reads: their language, the city's names for them, the city's time zone."""

    language: str
    names: i18n.CityNames | None = None
    timezone: str = "UTC"


class Localized(NamedTuple):
    """A stored explanation for one reader. ``html`` is escaped, with technical details kept
    in English inside ``<span lang="en">`` on another language's page; ``known`` is False
    for text no message matched (returned as it is)."""

    text: str
    html: Markup
    known: bool


_Piece = tuple[str, bool]  # (text, a detail kept in English)


def _matches(text: str, among: tuple[Message, ...] | None = None) -> Iterator[tuple[Message, dict[str, str]]]:
    for message in MESSAGES if among is None else among:
        found = message.pattern.fullmatch(text)
        if found is not None:
            yield message, found.groupdict()


def _channel(code: str, language: str) -> str:
    level = code.removeprefix("escalation-")
    if level != code and level.isdigit():
        return i18n.gettext(language, ESCALATION_CHANNEL, level=level)
    number = code.removeprefix("mqtt-change-")
    if number != code and number.isdigit():
        return i18n.gettext(language, CHANGE_CHANNEL, number=number)
    return i18n.label(language, CHANNEL_LABELS, code)


def _moment(value: str, reader: Reader) -> str:
    try:
        return i18n.format_when(datetime.fromisoformat(value), reader.language, reader.timezone)
    except ValueError:
        return value


def _value(kind: Kind, value: str, reader: Reader) -> list[_Piece] | None:
    """How a value reads; None for a ``message`` value that is no message."""
    names, language = reader.names, reader.language
    if kind in ("message", "explanation"):
        pieces = _pieces(value, reader)
        return pieces if pieces is not None or kind == "message" else [(value, True)]
    shown = {
        "category": lambda: names.category(value) if names else value,
        "agency": lambda: names.agency(value) if names else value,
        "priority": lambda: i18n.label(language, i18n.PRIORITY_LABELS, value),
        "flag": lambda: i18n.label(language, i18n.FLAG_LABELS, value),
        "source": lambda: i18n.label(language, i18n.SOURCE_LABELS, value),
        "channel": lambda: _channel(value, language),
        "moment": lambda: _moment(value, reader),
    }.get(kind)
    return [(shown() if shown is not None else value, kind == "detail")]


def _filled(message: Message, values: dict[str, str], reader: Reader) -> list[_Piece] | None:
    translated = i18n.translations(reader.language).gettext(message.template)
    pieces: list[_Piece] = []
    end = 0
    for found in PLACEHOLDER.finditer(translated):
        pieces.append((translated[end:found.start()], False))
        name, spec = found.group(1), found.group(2)
        raw = values[name]
        if spec[-1] in "df":
            number = int(raw) if spec[-1] == "d" else float(raw)
            pieces.append((f"%{spec}" % number, False))
        else:
            shown = _value(message.kinds.get(name, "text"), raw, reader)
            if shown is None:
                return None
            pieces += shown
        end = found.end()
    pieces.append((translated[end:], False))
    return pieces


def _one(text: str, reader: Reader, among: tuple[Message, ...] | None = None) -> list[_Piece] | None:
    for message, values in _matches(text, among):
        pieces = _filled(message, values, reader)
        if pieces is not None:
            return pieces
    return None


def _pieces(text: str, reader: Reader, among: tuple[Message, ...] | None = None) -> list[_Piece] | None:
    """The whole text as one message, else as messages joined by ``"; "``; None if neither."""
    whole = _one(text, reader, among)
    if whole is not None or SEPARATOR not in text:
        return whole
    pieces: list[_Piece] = []
    joiner = SEPARATORS.get(reader.language, SEPARATOR)
    for index, part in enumerate(text.split(SEPARATOR)):
        one = _one(part, reader, among)
        if one is None:
            return None
        pieces += [(joiner, False)] * (index > 0) + one
    return pieces


def localize(text: str | None, reader: Reader, *, people: bool = False) -> Localized:
    """``text`` (stored English) in the reader's language; English readers get it as stored.
    ``people``: the text stands where a person writes (a history note of a person, a
    dispatcher's reason): only the messages the system writes there (``PEOPLE_MESSAGES``) are
    re-written; anything else is what the person typed, shown as typed."""
    text = text or ""
    pieces = _pieces(text, reader, PEOPLE_MESSAGES if people else MESSAGES)
    if pieces is None or i18n.supported(reader.language) in (None, i18n.DEFAULT):
        plain = Markup.escape(text)
        return Localized(text=text, html=plain, known=pieces is not None)
    html = Markup("").join(Markup('<span lang="en" class="detail">{}</span>').format(part)
                           if detail else escape(part) for part, detail in pieces)
    return Localized(text="".join(part for part, _ in pieces), html=html, known=True)

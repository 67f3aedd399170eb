"""The languages of what people read: Babel message catalogs, the language a reader gets,
the city's names per language, and dates and numbers formatted for the locale.

The catalogs live beside this file: ``locales/messages.pot`` (extracted from the page
templates and from the Python strings marked ``N_``/``_``, see ``babel.cfg``) and
``locales/<lang>/LC_MESSAGES/messages.po``. A ``.po`` is read with Babel's ``read_po`` and
compiled in memory the first time a language is asked for: the ``.po`` is the one copy in
git (no binary ``.mo`` to keep in step with it, no compile step in the build or the CI), and
parsing a few hundred messages once per process costs a few milliseconds. English is the
source language: its "catalog" is the msgids themselves.

Refresh the catalogs after changing a template (run from the repository root)::

    pybabel extract -F dispatch/i18n/babel.cfg --sort-output --no-location --project=CityLoop \
        --copyright-holder="CityLoop contributors" --msgid-bugs-address=dev@cityloop \
        -o dispatch/i18n/locales/messages.pot .
    pybabel update -w 100 --no-fuzzy-matching -i dispatch/i18n/locales/messages.pot -d dispatch/i18n/locales

(the flags keep the files as committed: sorted, no source lines, the ``.po`` 100 wide).

``tests/unit/dispatch/test_i18n_catalog.py`` fails while a string is missing or untranslated.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES: tuple[str, ...] = ("en", "zh")
"""The languages with a catalog; English is the source language."""
DEFAULT = "en"
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "zh": "中文"}
"""Each language in its own words (the language menu shows them untranslated)."""


def N_(message: str) -> str:  # noqa: N802 - the gettext convention Babel extracts
    """Marks a string for the catalog where it is defined; it is translated where shown."""
    return message


def supported(code: str | None) -> str | None:
    """``"zh-CN"``, ``"zh_Hans"``, ``"ZH"`` → ``"zh"``; a language without a catalog → None."""
    if not code:
        return None
    base = code.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The first supported language of an ``Accept-Language`` header, by quality."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:50]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if (language := supported(tag)) is not None and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else None


def resolve(*, user_language: str | None, city_language: str | None,
            accept_language: str | None) -> str:
    """The reader's language: their own setting, then the city's default, then the browser's
    ``Accept-Language``, then English. ``city_language`` is None where the city file does
    not name one."""
    for choice in (supported(user_language), supported(city_language),
                   from_accept_language(accept_language)):
        if choice is not None:
            return choice
    return DEFAULT


def city_language(city: Any) -> str | None:
    """The language the city file names (``city.language``); None where it names none, so
    that the browser's choice counts for a city that did not pick one."""
    info = city.city
    return info.language if "language" in info.model_fields_set else None


@lru_cache(maxsize=8)
def translations(language: str) -> _gettext.NullTranslations:
    """The compiled catalog of ``language`` (English and unknown languages: the msgids)."""
    language = supported(language) or DEFAULT
    if language == DEFAULT:
        return _gettext.NullTranslations()
    path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries stay out, as with msgfmt
    compiled.seek(0)
    return Translations(compiled)


def gettext(language: str, message: str, **values: object) -> str:
    """``message`` in ``language``, with ``%(name)s`` placeholders filled from ``values``."""
    text = translations(language).gettext(message)
    return text % values if values else text


def ngettext(language: str, singular: str, plural: str, n: int, **values: object) -> str:
    text = translations(language).ngettext(singular, plural, n)
    return text % {"num": n, **values}


# ---------------------------------------------------------------- fixed labels

STATUS_LABELS: dict[str, str] = {
    # the 12345 workflow in Chinese: 受理 → 派单 → 签收 → 办理 → 办结 → 回访
    "triage": N_("triage"), "open": N_("open"), "acknowledged": N_("acknowledged"),
    "in_progress": N_("in_progress"), "resolved": N_("resolved"), "closed": N_("closed"),
    "rejected": N_("rejected"), "active": N_("active"), "all": N_("all"),
}
PRIORITY_LABELS: dict[str, str] = {
    "critical": N_("critical"), "high": N_("high"), "medium": N_("medium"), "low": N_("low"),
}
ACTION_LABELS: dict[str, str] = {
    "acknowledge": N_("Acknowledge"), "start": N_("Start"), "resolve": N_("Resolve"),
    "reject": N_("Reject"), "reassign": N_("Reassign"), "reopen": N_("Reopen"),
    "close": N_("Close"), "callback": N_("Callback"), "assign": N_("Assign"),
    "comment": N_("Comment"), "attach": N_("Attach"), "create": N_("Create"),
    "route": N_("Route"), "escalate": N_("Escalate"), "recheck": N_("Recheck"),
}
RATING_LABELS: dict[str, str] = {
    "satisfied": N_("satisfied"), "basically_satisfied": N_("basically satisfied"),
    "dissatisfied": N_("dissatisfied (reopens)"),
}
HISTORY_LABELS: dict[str, str] = {  # what a history line says was done (English: the code)
    code: code for code in (
        N_("acknowledge"), N_("start"), N_("resolve"), N_("reject"), N_("reassign"),
        N_("reopen"), N_("close"), N_("callback"), N_("assign"), N_("attach"), N_("comment"),
        N_("routed"), N_("rerouted"), N_("delivered"), N_("delivery_failed"),
        N_("delivery_retry"), N_("escalated"), N_("sla_breached"), N_("internal_note"),
        N_("merged_event"), N_("recategorize"), N_("recheck_cleared"), N_("recheck_skipped"),
        N_("created"))
}
ACTOR_LABELS: dict[str, str] = {  # the system's own actors (English: the code)
    code: code for code in (N_("system:delivery"), N_("system:intake"), N_("system:recheck"),
                            N_("system:router"), N_("system:sla"))
}
METHOD_LABELS: dict[str, str] = {  # how a ticket was routed or a write-up written
    "rule": N_("routing rule"), "default": N_("category's default agency"),
    "llm": N_("language model"), "triage": N_("sent to triage"), "manual": N_("by hand"),
    "learned": N_("learned rule"), "template": N_("template"), "keyword": N_("keywords"),
    "embedding": N_("embedding"), "?": N_("unknown"), "fallback": N_("written without the LLM"),
    "rules": N_("rules"), "none": N_("none"),
}
FLAG_LABELS: dict[str, str] = {
    "prompt_injection": N_("instructions to the system"), "priority_demand": N_("demands priority"),
    "routing_demand": N_("demands an agency"), "invisible_characters": N_("invisible characters"),
}
ROLE_LABELS: dict[str, str] = {
    "staff": N_("staff"), "supervisor": N_("supervisor"), "dispatcher": N_("dispatcher"),
    "admin": N_("admin"),
}
SLA_LABELS: dict[str, str] = {
    "breached": N_("breached"), "due_soon": N_("due within 2 h"), "on_time": N_("on time"),
    "done": N_("done"),
}
SOURCE_LABELS: dict[str, str] = {  # where a report came from (English: the code)
    code: code for code in (N_("hotline"), N_("camera"), N_("open311"), N_("api"),
                            N_("email"), N_("web"), N_("history"))
}
WORDS: tuple[str, ...] = (  # shown by the learning page as they are stored
    N_("category"), N_("agency"), N_("current"), N_("retired"), N_("candidate"),
    N_("proposed"), N_("accepted"), N_("dismissed"),
)
FIELD_LABELS: dict[str, str] = {  # the form fields a refusal names (English: the code)
    code: code for code in (N_("note"), N_("reason"), N_("agency"), N_("rating"), N_("category"),
                            N_("assignee"), N_("file"), N_("photo"), N_("action"), N_("language"))
}
WHAT_LABELS: dict[str, str] = {  # the things a NotFound names
    "ticket": N_("ticket"), "event": N_("event"), "incident": N_("incident"),
    "attachment": N_("attachment"), "snapshot of ticket": N_("snapshot of ticket"),
    "dead letter": N_("dead letter"), "quarantined item": N_("quarantined item"),
    "proposal": N_("proposal"), "service_code": N_("service"), "service_request_id": N_("request"),
}


def label(language: str, labels: dict[str, str], code: object) -> str:
    """A fixed code (status, priority, action …) in ``language``; an unknown code as it is."""
    text = labels.get(str(code))
    return gettext(language, text) if text is not None else str(code)


# ---------------------------------------------------------------- names from the city file

class _Named(Protocol):
    code: str
    name: str
    names: dict[str, str]


def name_in(thing: _Named, language: str, city_language: str | None) -> str:
    """A category's, agency's or district's name for a reader of ``language``: its own name
    where the city file is written in that language, else its ``names:`` entry for the
    language, else its own name."""
    own = supported(city_language) or DEFAULT
    if supported(language) == own:
        return thing.name
    return thing.names.get(language) or thing.name


class CityNames:
    """The city's names of codes for one reader: ``names.category("pothole")`` → 坑槽 for a
    Chinese reader of Riverton; an English city's English pages keep showing the code."""

    def __init__(self, city: Any, language: str) -> None:
        self.city = city
        self.language = language
        self.own = city.city.language

    def _find(self, things: Iterable[_Named], code: object, *, as_code: bool = True) -> str:
        if code is None or code == "":
            return ""
        if as_code and self.language == DEFAULT and (supported(self.own) or DEFAULT) == DEFAULT:
            return str(code)  # an English city's English pages show the codes, as always
        for thing in things:
            if thing.code == code:
                return name_in(thing, self.language, self.own)
        return str(code)

    def category(self, code: object) -> str:
        return self._find(self.city.categories, code)

    def agency(self, code: object) -> str:
        return self._find(self.city.agencies, code)

    def district(self, code: object) -> str:
        return self._find(self.city.district_list, code)

    def category_name(self, code: object) -> str:
        """The category's name (never its code), e.g. for a chart's labels."""
        return self._find(self.city.categories, code, as_code=False)

    def of(self, thing: _Named) -> str:
        return name_in(thing, self.language, self.own)


# ---------------------------------------------------------------- dates and numbers

def format_when(moment: datetime | None, language: str, timezone: str = "UTC") -> str:
    """A moment for a reader: the locale's medium date and short time, in the city's time
    zone (``Dec 6, 2026, 7:15 AM`` / ``2026年12月6日 07:15``); UTC is named."""
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(timezone))
    locale = Locale.parse(supported(language) or DEFAULT)
    text = f"{format_date(local, 'medium', locale=locale)} {format_time(local, 'short', locale=locale)}"
    return f"{text} UTC" if timezone == "UTC" else text


def format_number(value: float | int | None, language: str) -> str:
    if value is None:
        return "—"
    return format_decimal(value, locale=supported(language) or DEFAULT)


def format_share(value: float | None, language: str, digits: int = 0) -> str:
    """A share (0.87) as the locale writes a percentage (87%)."""
    if value is None:
        return "—"
    pattern = "#,##0%" if digits == 0 else "#,##0." + "0" * digits + "%"
    return format_percent(value, pattern, locale=supported(language) or DEFAULT)

"""The one Jinja2 environment of the pages (autoescaping on, ``jinja2.ext.i18n`` installed)
and the error page.

Every page, the hotline's and the front page's included, renders here. Translation is per
request: ``page`` puts the reader's language in the context (their own setting, then the
city's default, then ``Accept-Language``: ``dispatch.i18n.resolve``) and the gettext
callables, the date and number filters and the name helpers read it from there.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from agents.text import show_invisible
from dispatch import i18n
from dispatch.core.runtime import get_runtime
from dispatch.i18n import explain

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"
HTMX = "/static/htmx-2.0.11.min.js"

_env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(
    enabled_extensions=("html",), default_for_string=True, default=True),
    extensions=["jinja2.ext.i18n"])
_env.policies["ext.i18n.trimmed"] = True  # as babel.cfg extracts them


def _lang(context: Context) -> str:
    return str(context.get("lang") or i18n.DEFAULT)


@pass_context
def _gettext(context: Context, message: str) -> str:
    return i18n.translations(_lang(context)).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return i18n.translations(_lang(context)).ngettext(singular, plural, n)


_env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]


@pass_context
def _when(context: Context, moment: datetime | None) -> str:
    return i18n.format_when(moment, _lang(context), str(context.get("timezone") or "UTC"))


@pass_context
def _number(context: Context, value: float | int | None) -> str:
    return i18n.format_number(value, _lang(context))


@pass_context
def _share(context: Context, value: float | None, digits: int = 0) -> str:
    return i18n.format_share(value, _lang(context), digits)


def _visible(text: object) -> str:
    """Citizen text with each zero-width or bidirectional control character shown as a token
    (``⟦U+202E⟧``): a right-to-left override cannot reorder what staff read."""
    return show_invisible("" if text is None else str(text))


@pass_context
def _explain(context: Context, text: object, machine: bool = True) -> Markup:
    """A stored machine-written explanation (a routing or triage reason, a system note) in
    the reader's language (``dispatch.i18n.explain``). Text no message matches is shown as it
    is; where ``machine`` says it was written by the system, it is marked English
    (``lang="en"``) on another language's page. Where a person wrote (``machine`` False),
    only the few messages the system writes there are re-written: "writer: call me back" in
    a dispatcher's note stays the dispatcher's words."""
    language = _lang(context)
    reader = explain.Reader(language=language, names=context.get("names"),
                            timezone=str(context.get("timezone") or "UTC"))
    shown = explain.localize(_visible(text), reader, people=not machine)
    if shown.known or not machine or i18n.supported(language) == i18n.DEFAULT:
        return shown.html
    return Markup('<span lang="en">{}</span>').format(shown.text)


def _labeller(labels: dict[str, str]) -> Any:
    @pass_context
    def show(context: Context, code: object) -> str:
        return i18n.label(_lang(context), labels, code)
    return show


_env.filters["when"] = _when
_env.filters["number"] = _number
_env.filters["share"] = _share
_env.filters["visible"] = _visible
_env.filters["explain"] = _explain
_env.filters["status"] = _labeller(i18n.STATUS_LABELS)
_env.filters["priority"] = _labeller(i18n.PRIORITY_LABELS)
_env.filters["action"] = _labeller(i18n.ACTION_LABELS)
_env.filters["rating"] = _labeller(i18n.RATING_LABELS)
_env.filters["sla"] = _labeller(i18n.SLA_LABELS)
_env.filters["role"] = _labeller(i18n.ROLE_LABELS)
_env.filters["history"] = _labeller(i18n.HISTORY_LABELS)
_env.filters["actor"] = _labeller(i18n.ACTOR_LABELS)
_env.filters["method"] = _labeller(i18n.METHOD_LABELS)
_env.filters["flag"] = _labeller(i18n.FLAG_LABELS)
_env.filters["source"] = _labeller(i18n.SOURCE_LABELS)
_env.globals["language_names"] = i18n.LANGUAGE_NAMES
templates = Jinja2Templates(env=_env)


def language_of(request: Request | None, user: Any = None) -> str:
    """The reader's language: the user's setting, the city's default, ``Accept-Language``."""
    try:
        city_language = i18n.city_language(get_runtime().city)
    except Exception:  # no runtime (an error before start-up): the browser's choice
        city_language = None
    return i18n.resolve(
        user_language=getattr(user, "language", None), city_language=city_language,
        accept_language=request.headers.get("accept-language") if request is not None else None)


def reader_context(request: Request | None, user: Any = None) -> dict[str, Any]:
    """What every page needs to speak the reader's language."""
    lang = language_of(request, user)
    try:
        city = get_runtime().city
    except Exception:
        city = None
    return {"lang": lang, "timezone": city.city.timezone if city is not None else "UTC",
            "names": i18n.CityNames(city, lang) if city is not None else None}


def page(request: Request, name: str, context: dict[str, Any], status: int = 200,
         headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render a page or partial; the signed-in user and CSRF token are in every context, and
    the reader's language with its names, dates and numbers."""
    who = context.get("who")
    reader = reader_context(request, who.user if who is not None else None)
    return templates.TemplateResponse(request, name, {"htmx": HTMX, **reader, **context},
                                      status_code=status, headers=headers)


def tr(request: Request | None, message: str, *, user: Any = None, **values: object) -> str:
    """A message of the web layer (marked with ``_`` where it is written) in the reader's
    language."""
    return i18n.gettext(language_of(request, user), message, **values)


def error_page(status: int, message: str, request: Request | None = None,
               user: Any = None) -> HTMLResponse:
    """The error page in the reader's language; ``message`` is already in it."""
    from api.web.messages import status_title

    reader = reader_context(request, user)
    html = _env.get_template("inbox/error.html").render(
        status=status, title=status_title(status, reader["lang"]), message=message, **reader)
    return HTMLResponse(html, status_code=status)

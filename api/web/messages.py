"""What a page says when something is refused or goes wrong, in the reader's language.

The domain's exceptions carry English text written for logs and the JSON API. A page in
English shows that text as it is; a page in another language shows the catalog's sentence
for the kind of refusal, with the codes and numbers it names, never the English text.
"""

from __future__ import annotations

from dispatch import i18n
from dispatch.core.errors import InvalidField, NotFound
from dispatch.core.runtime import get_runtime
from dispatch.i18n import N_, explain
from dispatch.tickets.access import AccessDenied
from dispatch.tickets.lifecycle import IllegalTransition

CSRF = N_("The form was missing its security token or it was wrong; reload the page and try again.")
LOGIN_EXPIRED = N_("The sign-in form expired; please try again.")
WRONG_PASSWORD = N_("Wrong username or password.")
TOO_MANY = N_("Too many failed sign-ins; try again in %(seconds)s seconds.")
DENIED = N_("You are not allowed to do that.")
NOT_FOUND = N_("Not found: %(what)s %(ident)s.")
ILLEGAL = N_("A ticket in status “%(status)s” cannot take the action “%(action)s”.")
INVALID = N_("The field “%(field)s” was not accepted.")
INVALID_BECAUSE = N_("The field “%(field)s” was not accepted: %(reason)s.")
FAILED = N_("That did not work.")
STATUS_TITLES = {
    400: N_("Bad request"), 401: N_("Sign in first"), 403: N_("Not allowed"),
    404: N_("Not found"), 409: N_("Conflict"), 413: N_("Too large"),
    422: N_("Not accepted"), 429: N_("Too many tries"), 500: N_("Something went wrong"),
}


def describe(exc: Exception, language: str) -> str:
    """``exc`` for a reader of ``language``."""
    if language == i18n.DEFAULT:
        if isinstance(exc, InvalidField):
            return f"{exc.field}: {exc.message}"
        return str(exc)
    if isinstance(exc, AccessDenied):
        return i18n.gettext(language, DENIED)
    if isinstance(exc, NotFound):
        return i18n.gettext(language, NOT_FOUND,
                            what=i18n.label(language, i18n.WHAT_LABELS, exc.what), ident=exc.ident)
    if isinstance(exc, IllegalTransition):
        return i18n.gettext(language, ILLEGAL,
                            status=i18n.label(language, i18n.STATUS_LABELS, exc.status),
                            action=i18n.label(language, i18n.ACTION_LABELS, exc.action))
    if isinstance(exc, InvalidField):
        field = i18n.label(language, i18n.FIELD_LABELS, exc.field)
        refusal = explain.localize(exc.message, _reader(language))
        if refusal.known:  # a refusal the catalog has, with its limit
            return i18n.gettext(language, INVALID_BECAUSE, field=field, reason=refusal.text)
        return i18n.gettext(language, INVALID, field=field)
    return i18n.gettext(language, FAILED)


def _reader(language: str) -> explain.Reader:
    try:
        city = get_runtime().city
    except Exception:  # no runtime (an error before start-up): codes as they are
        return explain.Reader(language)
    return explain.Reader(language, i18n.CityNames(city, language), city.city.timezone)


def status_title(status: int, language: str) -> str:
    return i18n.gettext(language, STATUS_TITLES.get(status, FAILED))

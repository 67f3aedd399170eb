"""Who is asking: the session cookie, the CSRF check, and what a refusal looks like.

Pages redirect a stranger to the sign-in page; htmx partials answer 401 with an
``HX-Redirect``; the JSON API answers 401. A POST made with the session cookie must carry
the session's CSRF token, as the ``csrf_token`` form field or the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api import errors
from api.deps import RuntimeDep
from api.web.messages import CSRF, describe
from api.web.render import error_page, language_of
from dispatch import i18n
from dispatch.accounts import sessions as websessions
from dispatch.accounts.models import User
from dispatch.core.errors import InvalidField, NotFound
from dispatch.core.runtime import get_runtime
from dispatch.i18n import explain
from dispatch.tickets.access import AccessDenied

SESSION_COOKIE = "cityloop_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class SignedIn:
    user: User
    csrf_token: str


class NotSignedIn(Exception):
    pass


class BadCsrf(Exception):
    pass


def secure_cookies(request: Request) -> bool:
    return str(request.app.state.config.public_url).startswith("https://")


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=int(websessions.LIFETIME.total_seconds()),
                        httponly=True, samesite="lax", secure=secure_cookies(request), path="/")


def signed_in(request: Request, rt: RuntimeDep) -> SignedIn | None:
    """The live session's user, read in a short session of its own (the route's session
    stays free for the route's own transaction)."""
    with rt.factory() as db:
        session = websessions.lookup(db_session=db, token=request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        return SignedIn(user=session.user, csrf_token=session.csrf_token)


def require_user(who: Annotated[SignedIn | None, Depends(signed_in)]) -> SignedIn:
    if who is None:
        raise NotSignedIn()
    return who


async def require_csrf(request: Request, who: Annotated[SignedIn, Depends(require_user)]) -> SignedIn:
    """For every POST: the session's CSRF token from the header or the form."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent.encode(), who.csrf_token.encode()):
        raise BadCsrf()
    return who


UserDep = Annotated[SignedIn, Depends(require_user)]
PostUserDep = Annotated[SignedIn, Depends(require_csrf)]


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


_TICKET_PATH = re.compile(r"^/tickets/(\d{1,18})(?:/|$)")


def _come_back_to(request: Request) -> str:
    """Where to go after signing in: the same page with its filters, or, for a form posted
    after the session ended (resolve, comment, bulk action), the page the form was on, since
    a GET on the form's action would answer 405."""
    path = request.url.path
    if request.method in ("GET", "HEAD"):
        return path + (f"?{request.url.query}" if request.url.query else "")
    ticket = _TICKET_PATH.match(path)
    return f"/tickets/{ticket.group(1)}" if ticket else "/inbox"


async def _not_signed_in(request: Request, _: NotSignedIn) -> Response:
    if _wants_json(request):
        return JSONResponse(status_code=401, content={"detail": "sign in first"})
    target = "/login?next=" + quote(_come_back_to(request), safe="/")
    if request.headers.get("HX-Request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _reader(request: Request) -> User | None:
    """The signed-in user of a refused page (for its language), or None."""
    try:
        with get_runtime().factory() as db:
            session = websessions.lookup(db_session=db, token=request.cookies.get(SESSION_COOKIE))
            return session.user if session is not None else None
    except Exception:  # the error page must not fail for want of a language
        return None


async def _bad_csrf(request: Request, _: BadCsrf) -> Response:
    message = "missing or wrong CSRF token; reload the page and try again"
    if _wants_json(request):
        return JSONResponse(status_code=403, content={"detail": message})
    user = await run_in_threadpool(_reader, request)
    language = language_of(request, user)
    shown = message if language == "en" else i18n.gettext(language, CSRF)
    return error_page(403, shown, request, user)


async def _denied(request: Request, exc: AccessDenied) -> Response:
    if _wants_json(request):
        return JSONResponse(status_code=403, content={"detail": str(exc)})
    user = await run_in_threadpool(_reader, request)
    return error_page(403, describe(exc, language_of(request, user)), request, user)


async def _not_found(request: Request, exc: NotFound) -> Response:
    if _wants_json(request) or not request.url.path.startswith(("/tickets/", "/inbox")):
        return JSONResponse(status_code=404, content={"detail": str(exc)})
    user = await run_in_threadpool(_reader, request)
    return error_page(404, describe(exc, language_of(request, user)), request, user)


PAGES = ("/tickets/", "/inbox", "/learning", "/dead-letters", "/language", "/dashboard", "/ask",
         "/login")
"""Where a browser posts forms: a refused form answers with a page, not JSON."""


async def _invalid_form(request: Request, exc: RequestValidationError) -> Response:
    """A form field the page's own checks let through (a browser without ``maxlength``, a
    hand-made request): the error page names the field and the limit in the reader's
    language; any other request gets the JSON answer."""
    if _wants_json(request) or not request.url.path.startswith(PAGES):
        return await errors.validation(request, exc)
    first = exc.errors()[0] if exc.errors() else {}
    field = errors.field_name(tuple(first.get("loc", ())))
    limit = (first.get("ctx") or {}).get("max_length")
    message = (explain.TOO_LONG(limit=int(limit)) if first.get("type") == "string_too_long" and limit
               else str(first.get("msg", "invalid")))
    user = await run_in_threadpool(_reader, request)
    return error_page(422, describe(InvalidField(field, message), language_of(request, user)),
                      request, user)


async def _invalid_field(request: Request, exc: InvalidField) -> Response:
    """A refusal no page caught itself (a form field's own type check): a page for pages."""
    if _wants_json(request) or not request.url.path.startswith(PAGES):
        return await errors.invalid_field(request, exc)
    user = await run_in_threadpool(_reader, request)
    return error_page(422, describe(exc, language_of(request, user)), request, user)


def install(app: FastAPI) -> None:
    """After ``api.errors.install``: pages get an HTML 404 (and 422) instead of the JSON one."""
    app.add_exception_handler(RequestValidationError, _invalid_form)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidField, _invalid_field)  # type: ignore[arg-type]
    app.add_exception_handler(NotFound, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(NotSignedIn, _not_signed_in)  # type: ignore[arg-type]
    app.add_exception_handler(BadCsrf, _bad_csrf)  # type: ignore[arg-type]
    app.add_exception_handler(AccessDenied, _denied)  # type: ignore[arg-type]

"""Sign in and sign out. The sign-in form is protected by a double-submit CSRF cookie;
failed sign-ins are throttled per account and per address (429 with ``Retry-After``).

The address is the connecting one: ``X-Forwarded-For`` counts only from the proxies listed
in ``trusted_proxies`` (none by default), which rewrite the client before any route runs."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import SESSION_COOKIE, PostUserDep, secure_cookies, set_session_cookie, signed_in
from api.deps import RuntimeDep, SessionDep
from api.web.messages import LOGIN_EXPIRED, TOO_MANY, WRONG_PASSWORD
from api.web.render import language_of, page, tr
from dispatch.accounts import sessions as websessions
from dispatch.accounts import users

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "cityloop_login_csrf"


def safe_next(target: str | None) -> str:
    """Only a path on this site: never ``//evil.example`` or ``https://...``."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/inbox"


def _login_page(request: Request, *, next_url: str, error: str | None = None,
                username: str = "", status: int = 200,
                headers: dict[str, str] | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = page(request, "inbox/login.html", {
        "who": None, "login_csrf": token, "next": next_url, "error": error,
        "username": username}, status=status, headers=headers)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="lax",
                        secure=secure_cookies(request), path="/login")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, rt: RuntimeDep, next: str | None = None) -> Response:
    if signed_in(request, rt) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_url=safe_next(next))


@router.post("/login")
def login(
    request: Request, db: SessionDep,
    username: Annotated[str, Form(max_length=200)], password: Annotated[str, Form(max_length=2048)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/inbox",
) -> Response:
    next_url = safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf_token.encode(), expected.encode()):
        return _login_page(request, next_url=next_url, username=username, status=403,
                           error=tr(request, LOGIN_EXPIRED))
    address = request.client.host if request.client else "unknown"
    try:
        with db.begin():
            user = users.authenticate(db_session=db, username=username, password=password,
                                      address=address)
            token = websessions.start(db_session=db, user=user) if user else None
    except users.TooManyAttempts as exc:
        error = (str(exc) if language_of(request) == "en"
                 else tr(request, TOO_MANY, seconds=exc.retry_after_s))
        return _login_page(request, next_url=next_url, username=username, status=429,
                           error=error, headers={"Retry-After": str(exc.retry_after_s)})
    if token is None:
        return _login_page(request, next_url=next_url, username=username, status=401,
                           error=tr(request, WRONG_PASSWORD))
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookie(request, response, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, db: SessionDep, _: PostUserDep) -> Response:
    with db.begin():
        websessions.end(db_session=db, token=request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=secure_cookies(request))
    return response

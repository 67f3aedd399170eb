"""The dead-letter page for dispatchers and admins: failed channel deliveries, and a
retry button for each (a form POST with the session's CSRF token); beside them the
quarantined work (events, incidents, tickets a task failed on again and again) with a retry
and a discard button."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import PostUserDep, UserDep
from api.deps import SessionDep
from api.routes.dead_letters import check_operator, retry_letter
from api.routes.quarantine import discard_item, quarantined, retry_item
from api.web.messages import describe, status_title
from api.web.render import language_of, page, tr
from dispatch.core.errors import NotFound
from dispatch.delivery import dead_letters
from dispatch.i18n import N_

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
RELEASED = N_("Quarantined item %(item)s released and queued again.")
DISCARDED = N_("Quarantined item %(item)s discarded.")


def _detail(request: Request, who: UserDep, exc: HTTPException) -> str:
    """A refusal of the retry API (already retried, not yet failed …) for the reader: as
    it is in English, else the catalog's title for its status."""
    language = language_of(request, who.user)
    return str(exc.detail) if language == "en" else status_title(exc.status_code, language)


def _page(request: Request, db: SessionDep, who: UserDep, *, include_retried: bool,
          cursor: int | None, error: str = "", done: int | None = None, notice: str = "",
          status: int = 200) -> HTMLResponse:
    check_operator(who.user)
    rows, next_cursor = dead_letters.list_dead_letters(
        db_session=db, include_retried=include_retried, cursor=cursor, limit=PAGE_SIZE)
    return page(request, "inbox/dead_letters.html", {
        "who": who, "rows": rows, "next_cursor": next_cursor, "include_retried": include_retried,
        "error": error, "done": done, "notice": notice,
        "quarantined": quarantined(db_session=db) if cursor is None else []}, status=status)


@router.get("/dead-letters", response_class=HTMLResponse)
def dead_letters_page(request: Request, db: SessionDep, who: UserDep,
                      include_retried: bool = False,
                      cursor: Annotated[int | None, Query(ge=1)] = None,
                      retried: Annotated[int | None, Query(ge=1)] = None,
                      released: Annotated[int | None, Query(ge=1)] = None,
                      discarded: Annotated[int | None, Query(ge=1)] = None) -> HTMLResponse:
    notice = (tr(request, RELEASED, user=who.user, item=released) if released else
              tr(request, DISCARDED, user=who.user, item=discarded) if discarded else "")
    return _page(request, db, who, include_retried=include_retried, cursor=cursor, done=retried,
                 notice=notice)


@router.post("/dead-letters/{dead_letter_id}/retry")
def retry_dead_letter(request: Request, dead_letter_id: int, db: SessionDep,
                      who: PostUserDep) -> Response:
    try:
        retry_letter(db_session=db, user=who.user, dead_letter_id=dead_letter_id)
    except HTTPException as exc:
        return _page(request, db, who, include_retried=False, cursor=None, error=_detail(request, who, exc),
                     status=exc.status_code)
    return RedirectResponse(f"/dead-letters?retried={dead_letter_id}", status_code=303)


@router.post("/dead-letters/quarantine/{quarantine_id}/{choice}")
def quarantine_choice(request: Request, quarantine_id: int, choice: Literal["retry", "discard"],
                      db: SessionDep, who: PostUserDep) -> Response:
    """Retry (out of quarantine, queued again) or discard (left failed for good)."""
    try:
        if choice == "retry":
            retry_item(db_session=db, user=who.user, quarantine_id=quarantine_id)
        else:
            discard_item(db_session=db, user=who.user, quarantine_id=quarantine_id)
    except HTTPException as exc:
        return _page(request, db, who, include_retried=False, cursor=None, error=_detail(request, who, exc),
                     status=exc.status_code)
    except NotFound as exc:
        return _page(request, db, who, include_retried=False, cursor=None,
                     error=describe(exc, language_of(request, who.user)), status=404)
    done = "released" if choice == "retry" else "discarded"
    return RedirectResponse(f"/dead-letters?{done}={quarantine_id}", status_code=303)

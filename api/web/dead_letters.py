"""The dead-letter page for dispatchers and admins: failed channel deliveries, and a
retry button for each (a form POST with the session's CSRF token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import PostUserDep, UserDep
from api.deps import SessionDep
from api.routes.dead_letters import check_operator, retry_letter
from api.web.render import page
from dispatch.delivery import dead_letters

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def _page(request: Request, db: SessionDep, who: UserDep, *, include_retried: bool,
          cursor: int | None, error: str = "", done: int | None = None,
          status: int = 200) -> HTMLResponse:
    check_operator(who.user)
    rows, next_cursor = dead_letters.list_dead_letters(
        db_session=db, include_retried=include_retried, cursor=cursor, limit=PAGE_SIZE)
    return page(request, "inbox/dead_letters.html", {
        "who": who, "rows": rows, "next_cursor": next_cursor, "include_retried": include_retried,
        "error": error, "done": done}, status=status)


@router.get("/dead-letters", response_class=HTMLResponse)
def dead_letters_page(request: Request, db: SessionDep, who: UserDep,
                      include_retried: bool = False,
                      cursor: Annotated[int | None, Query(ge=1)] = None,
                      retried: Annotated[int | None, Query(ge=1)] = None) -> HTMLResponse:
    return _page(request, db, who, include_retried=include_retried, cursor=cursor, done=retried)


@router.post("/dead-letters/{dead_letter_id}/retry")
def retry_dead_letter(request: Request, dead_letter_id: int, db: SessionDep,
                      who: PostUserDep) -> Response:
    try:
        retry_letter(db_session=db, user=who.user, dead_letter_id=dead_letter_id)
    except HTTPException as exc:
        return _page(request, db, who, include_retried=False, cursor=None, error=str(exc.detail),
                     status=exc.status_code)
    return RedirectResponse(f"/dead-letters?retried={dead_letter_id}", status_code=303)

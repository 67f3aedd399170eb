"""The language menu of the page header: POST /language sets the signed-in user's own
language (CSRF-protected like every form) and goes back to the page it was posted from."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from api.auth import PostUserDep
from api.deps import SessionDep
from api.web.login import safe_next
from dispatch.accounts import users

router = APIRouter(include_in_schema=False)


@router.post("/language")
def set_language(db: SessionDep, who: PostUserDep,
                 language: Annotated[str, Form(max_length=16)] = "",
                 back: Annotated[str, Form(max_length=2000)] = "/inbox") -> Response:
    """``language``: "en", "zh", or empty for the city's default (then the browser's)."""
    with db.begin():
        users.set_language(db_session=db, user_id=who.user.id, language=language or None)
    return RedirectResponse(safe_next(back), status_code=303)

"""The learning page for admins: the learned models (accuracy per category, every version) and
the rule proposals from repeated corrections, each with an accept and a dismiss button."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import PostUserDep, UserDep
from api.deps import SessionDep
from api.web.render import page
from dispatch.accounts.models import User
from dispatch.learning.flows import decide_proposal
from dispatch.learning.proposals import proposals
from dispatch.learning.training import KINDS, current_record, model_history
from dispatch.tickets.access import AccessDenied

router = APIRouter(include_in_schema=False)


def _admin(user: User) -> None:
    if user.role != "admin":
        raise AccessDenied("only admins see the learned models and decide on rule proposals")


@router.get("/learning", response_class=HTMLResponse)
def learning_page(request: Request, db: SessionDep, who: UserDep, done: str = "") -> HTMLResponse:
    _admin(who.user)
    current = {kind: current_record(db_session=db, kind=kind) for kind in KINDS}
    return page(request, "inbox/learning.html", {
        "who": who, "current": current, "history": model_history(db_session=db),
        "proposals": proposals(db_session=db), "done": done})


@router.post("/learning/proposals/{proposal_id}/{decision}")
def decide_page(request: Request, proposal_id: int, decision: Literal["accept", "dismiss"],
                db: SessionDep, who: PostUserDep) -> Response:
    decide_proposal(db_session=db, user=who.user, proposal_id=proposal_id, accept=decision == "accept")
    return RedirectResponse(f"/learning?done={decision}ed", status_code=303)

"""The inbox: filtered, searchable, keyset-paginated tickets; new ones appear by polling.

Staff and supervisors see their own agency only; dispatchers and admins see every agency
and the triage queue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from api.auth import PostUserDep, UserDep
from api.deps import RuntimeDep, SessionDep
from api.web.render import page, tr
from dispatch.accounts.models import User
from dispatch.core.errors import InvalidField, NotFound
from dispatch.i18n import N_, explain
from dispatch.tickets import access, collab, inbox
from dispatch.tickets.access import visible_ticket
from dispatch.tickets.flows import take_action
from dispatch.tickets.inbox import InboxFilter
from dispatch.tickets.lifecycle import IllegalTransition

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
MAX_BULK = 200


async def inbox_filter(request: Request, who: UserDep) -> InboxFilter:
    """The filters from the query string, checked against what the user may see (async: it
    does no I/O, so it needs no trip through the thread pool)."""
    try:
        where = InboxFilter.model_validate(dict(request.query_params))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidField(".".join(str(p) for p in err["loc"]) or "query", err["msg"]) from None
    scope = access.agency_scope(who.user)
    if scope is not None and where.status == "triage":
        raise access.AccessDenied("only dispatchers see the triage queue")
    if scope is not None and where.agency not in (None, scope):
        raise access.AccessDenied(f"you see only the tickets of {scope!r}")
    return where


FilterDep = Annotated[InboxFilter, Depends(inbox_filter)]


def _context(rt: RuntimeDep, who: UserDep, where: InboxFilter) -> dict[str, object]:
    return {"who": who, "where": where, "filter_query": urlencode(where.query()),
            "city": rt.city, "statuses": inbox.STATUS_VIEWS, "now": datetime.now(UTC),
            "sla_state": inbox.sla_state, "all_agencies": access.sees_all_agencies(who.user)}


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, db: SessionDep, rt: RuntimeDep, who: UserDep,
               where: FilterDep) -> HTMLResponse:
    seen = inbox.watermark(db_session=db)  # before the search: nothing slips between
    rows, next_cursor = inbox.search(db_session=db, scope=access.agency_scope(who.user),
                                     where=where, cursor=None, limit=PAGE_SIZE)
    notice = _bulk_notice(request, who.user)
    context = {**_context(rt, who, where), "rows": rows, "next_cursor": next_cursor,
               "seen": seen, "notice": notice, "colleagues": _colleagues(db, who.user)}
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "results":
        return page(request, "inbox/_results.html", context)
    return page(request, "inbox/inbox.html", context)


def _colleagues(db: SessionDep, user: User) -> list[User]:
    """Whom the user may assign to: the own agency's staff, or every agency's for dispatchers."""
    stmt = select(User).where(User.active.is_(True), User.role.in_(collab.AGENCY_ROLES))
    if not access.sees_all_agencies(user):
        stmt = stmt.where(User.agency == user.agency)
    return list(db.scalars(stmt.order_by(User.agency, User.username)))


BULK_NOTICES = {
    "acknowledged": N_("Acknowledged %(done)s ticket(s); %(skipped)s could not be acknowledged."),
    "assigned": N_("Assigned %(done)s ticket(s); %(skipped)s could not be assigned."),
}


def _bulk_notice(request: Request, user: User) -> str | None:
    params = request.query_params
    skipped = params.get("skipped") or "0"
    for key, notice in BULK_NOTICES.items():
        done = params.get(key)
        if done is not None and done.isdigit() and skipped.isdigit():
            return tr(request, notice, user=user, done=int(done), skipped=int(skipped))
    return None


@router.get("/inbox/rows", response_class=HTMLResponse)
def inbox_rows(request: Request, db: SessionDep, rt: RuntimeDep, who: UserDep, where: FilterDep,
               cursor: Annotated[int | None, Query(ge=1)] = None) -> HTMLResponse:
    """The next page of rows and a new "load more" row (htmx swaps it for the old one)."""
    rows, next_cursor = inbox.search(db_session=db, scope=access.agency_scope(who.user),
                                     where=where, cursor=cursor, limit=PAGE_SIZE)
    return page(request, "inbox/_rows.html",
                {**_context(rt, who, where), "rows": rows, "next_cursor": next_cursor})


@router.get("/inbox/new", response_class=HTMLResponse)
def inbox_new(request: Request, db: SessionDep, rt: RuntimeDep, who: UserDep, where: FilterDep,
              seen: Annotated[str | None, Query(max_length=inbox.MAX_SNAPSHOT_CHARS)] = None,
              ) -> HTMLResponse:
    """Tickets that reached the agency after the page was drawn (``seen``: the page's
    database snapshot, so the order is the order of commits); polled every 10 seconds."""
    if seen is not None and (problem := inbox.snapshot_problem(seen)) is not None:
        raise InvalidField("seen", problem)
    rows = inbox.newer_than(db_session=db, scope=access.agency_scope(who.user), where=where,
                            seen=seen)
    return page(request, "inbox/_new.html",
                {**_context(rt, who, where), "new_rows": rows, "seen": seen or ""})


@router.post("/inbox/acknowledge")
def bulk_acknowledge(
    db: SessionDep, rt: RuntimeDep, who: PostUserDep,
    ticket_id: Annotated[list[int] | None, Form(max_length=MAX_BULK)] = None,
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Acknowledge each chosen ticket on its own; the ones that cannot be are counted."""
    done = skipped = 0
    for one in dict.fromkeys(ticket_id or []):
        try:
            take_action(db_session=db, city=rt.city, user=who.user, ticket_id=one, action="acknowledge")
            done += 1
        except (IllegalTransition, NotFound, access.AccessDenied):
            skipped += 1
    return _back_to_inbox(back, "acknowledged", done, skipped)


def _back_to_inbox(back: str, key: str, done: int, skipped: int) -> Response:
    keep = [(k, v) for k, v in parse_qsl(back) if k in InboxFilter.model_fields]
    query = urlencode([*keep, (key, done), ("skipped", skipped)])
    return RedirectResponse(f"/inbox?{query}", status_code=303)


@router.post("/inbox/assign")
def bulk_assign(
    db: SessionDep, who: PostUserDep,
    assignee: Annotated[str, Form(max_length=64)] = "",
    ticket_id: Annotated[list[int] | None, Form(max_length=MAX_BULK)] = None,
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Assign each chosen ticket on its own to a colleague of that ticket's agency; tickets
    the user may not see, or whose agency is not the assignee's, are counted as skipped."""
    if not assignee.strip():
        raise InvalidField("assignee", explain.CHOOSE_COLLEAGUE())
    done = skipped = 0
    for one in dict.fromkeys(ticket_id or []):
        try:
            with db.begin():
                ticket = visible_ticket(db_session=db, user=who.user, ticket_id=one,
                                        for_update=True)
                collab.assign(db_session=db, ticket=ticket, assignee=assignee,
                              actor=who.user.username)
            done += 1
        except (InvalidField, NotFound):
            skipped += 1
    return _back_to_inbox(back, "assigned", done, skipped)

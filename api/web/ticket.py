"""One ticket: the write-up, snapshot, map pin, routing reason, history timeline, comments
and internal notes, attachments, assigning to a colleague, and the lifecycle actions the
signed-in user's role may take (resolve with a note and an optional photo; reassign for
dispatchers); and a category change (``templates/inbox/_recategorize.html``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import PostUserDep, UserDep
from api.deps import ConfigDep, RuntimeDep, SessionDep
from api.web.attachments import read_upload
from api.web.messages import describe
from api.web.render import language_of
from api.web.ticket_view import ticket_page_response
from dispatch.core.errors import InvalidField
from dispatch.i18n import explain
from dispatch.tickets import access, collab
from dispatch.tickets import service as ticket_service
from dispatch.tickets.access import visible_ticket
from dispatch.tickets.collab import PHOTO_TYPES
from dispatch.tickets.flows import recategorize, take_action
from dispatch.tickets.lifecycle import Action, IllegalTransition

router = APIRouter(include_in_schema=False)


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket_page(request: Request, ticket_id: int, db: SessionDep, rt: RuntimeDep,
                config: ConfigDep, who: UserDep) -> HTMLResponse:
    return ticket_page_response(request, db, rt, config, who, ticket_id)


@router.post("/tickets/{ticket_id}/actions/{action}")
def ticket_action(
    request: Request, ticket_id: int, action: Action, db: SessionDep, rt: RuntimeDep,
    config: ConfigDep, who: PostUserDep,
    note: Annotated[str, Form(max_length=4000)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    agency: Annotated[str, Form(max_length=64)] = "",
    rating: Annotated[str, Form(max_length=32)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """A resolution may carry a photo: it is checked before the ticket moves and stored
    with the resolution."""
    try:
        upload = read_upload(photo, config.max_image_bytes)
        if upload is not None:
            if action != "resolve":
                raise InvalidField("photo", explain.PHOTO_ONLY_ON_RESOLVE())
            collab.check_upload(upload=upload, max_bytes=config.max_image_bytes,
                                allowed=PHOTO_TYPES, field="photo")
        take_action(db_session=db, city=rt.city, user=who.user, ticket_id=ticket_id, action=action,
                   note=note.strip(), reason=reason.strip(), agency=agency.strip(),
                   rating=rating.strip())
        if upload is not None:
            with db.begin():
                ticket = visible_ticket(db_session=db, user=who.user, ticket_id=ticket_id,
                                        for_update=True)
                collab.add_attachment(db_session=db, ticket=ticket, uploaded_by=who.user.username,
                                      upload=upload, max_bytes=config.max_image_bytes,
                                      allowed=PHOTO_TYPES, purpose="resolution", field="photo")
    except IllegalTransition as exc:
        return ticket_page_response(request, db, rt, config, who, ticket_id,
                                    error=describe(exc, language_of(request, who.user)), status=409)
    except InvalidField as exc:
        return ticket_page_response(request, db, rt, config, who, ticket_id,
                                    error=describe(exc, language_of(request, who.user)), status=422)
    if not access.can_see(who.user, ticket_service.get_ticket(db_session=db, ticket_id=ticket_id)):
        return RedirectResponse("/inbox", status_code=303)  # reassigned away or rejected
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


@router.post("/tickets/{ticket_id}/comments")
def ticket_comment(request: Request, ticket_id: int, db: SessionDep, rt: RuntimeDep,
                   config: ConfigDep, who: PostUserDep,
                   note: Annotated[str, Form(max_length=collab.MAX_COMMENT)] = "",
                   internal: Annotated[bool, Form()] = False) -> Response:
    """A comment, or with ``internal`` an internal note (never shown outside the agency pages)."""
    try:
        with db.begin():
            ticket = visible_ticket(db_session=db, user=who.user, ticket_id=ticket_id,
                                    for_update=True)
            collab.add_comment(db_session=db, ticket=ticket, author=who.user.username, body=note,
                               internal=internal)
    except InvalidField as exc:
        return ticket_page_response(request, db, rt, config, who, ticket_id,
                                    error=describe(exc, language_of(request, who.user)), status=422)
    return RedirectResponse(f"/tickets/{ticket_id}#comments", status_code=303)


@router.post("/tickets/{ticket_id}/assign")
def ticket_assign(request: Request, ticket_id: int, db: SessionDep, rt: RuntimeDep,
                  config: ConfigDep, who: PostUserDep,
                  assignee: Annotated[str, Form(max_length=64)] = "") -> Response:
    """Give the ticket to an active colleague of the ticket's agency."""
    try:
        with db.begin():
            ticket = visible_ticket(db_session=db, user=who.user, ticket_id=ticket_id,
                                    for_update=True)
            collab.assign(db_session=db, ticket=ticket, assignee=assignee,
                          actor=who.user.username)
    except InvalidField as exc:
        return ticket_page_response(request, db, rt, config, who, ticket_id,
                                    error=describe(exc, language_of(request, who.user)), status=422)
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


@router.post("/tickets/{ticket_id}/category")
def ticket_category(request: Request, ticket_id: int, db: SessionDep, rt: RuntimeDep,
                    config: ConfigDep, who: PostUserDep,
                    category: Annotated[str, Form(max_length=64)] = "",
                    note: Annotated[str, Form(max_length=4000)] = "") -> Response:
    """File the ticket under another category: a correction the learned models learn from."""
    try:
        recategorize(db_session=db, city=rt.city, user=who.user, ticket_id=ticket_id,
                     category=category.strip(), note=note.strip() or None)
    except InvalidField as exc:
        return ticket_page_response(request, db, rt, config, who, ticket_id,
                                    error=describe(exc, language_of(request, who.user)), status=422)
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)

"""Files on a ticket: uploads (size limit, allow-listed types sniffed from the bytes), the
downloads, and the snapshot of the event that started the ticket. Each is served only to
users who may see the ticket, as a download that the browser may not sniff."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from api.auth import PostUserDep, UserDep
from api.deps import ConfigDep, RuntimeDep, SessionDep
from api.web.messages import describe
from api.web.render import language_of
from api.web.ticket_view import event_image, ticket_page_response
from dispatch.core.errors import InvalidField, NotFound
from dispatch.i18n import explain
from dispatch.tickets import collab
from dispatch.tickets.access import visible_ticket

router = APIRouter(include_in_schema=False)
SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
                "Content-Security-Policy": "default-src 'none'; sandbox"}


def read_upload(file: UploadFile | None, max_bytes: int) -> collab.Upload | None:
    """The chosen file, read up to one byte past the limit; None when no file was chosen."""
    if file is None or not file.filename:
        return None
    return collab.Upload(file_name=file.filename, data=file.file.read(max_bytes + 1))


def disposition(kind: str, file_name: str) -> str:
    ascii_name = "".join(ch if ch.isascii() and ch.isprintable() and ch not in '"\\;' else "_"
                         for ch in file_name)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name, safe='')}"


@router.post("/tickets/{ticket_id}/attachments")
def upload_attachment(request: Request, ticket_id: int, db: SessionDep, rt: RuntimeDep,
                      config: ConfigDep, who: PostUserDep,
                      file: Annotated[UploadFile | None, File()] = None) -> Response:
    try:
        upload = read_upload(file, config.max_image_bytes)
        if upload is None:
            raise InvalidField("file", explain.CHOOSE_FILE())
        with db.begin():
            ticket = visible_ticket(db_session=db, user=who.user, ticket_id=ticket_id,
                                    for_update=True)
            collab.add_attachment(db_session=db, ticket=ticket, uploaded_by=who.user.username,
                                  upload=upload, max_bytes=config.max_image_bytes)
    except InvalidField as exc:
        return ticket_page_response(request, db, rt, config, who, ticket_id,
                                    error=describe(exc, language_of(request, who.user)), status=422)
    return RedirectResponse(f"/tickets/{ticket_id}#attachments", status_code=303)


@router.get("/tickets/{ticket_id}/attachments/{attachment_id}")
def download_attachment(ticket_id: int, attachment_id: int, db: SessionDep,
                        who: UserDep) -> Response:
    visible_ticket(db_session=db, user=who.user, ticket_id=ticket_id)
    found = collab.get_attachment(db_session=db, ticket_id=ticket_id, attachment_id=attachment_id)
    return Response(found.data, media_type=found.content_type, headers={
        **SAFE_HEADERS, "Content-Disposition": disposition("attachment", found.file_name)})


@router.get("/tickets/{ticket_id}/snapshot")
def snapshot(ticket_id: int, db: SessionDep, who: UserDep) -> Response:
    """The image of the event that started the ticket (camera snapshots have the box drawn)."""
    ticket = visible_ticket(db_session=db, user=who.user, ticket_id=ticket_id)
    image = event_image(db, ticket.incident.origin_event_id)
    if image is None:
        raise NotFound("snapshot of ticket", ticket_id)
    return Response(image[0], media_type=image[1], headers={
        **SAFE_HEADERS, "Content-Disposition": disposition("inline", f"ticket-{ticket_id}.jpg")})

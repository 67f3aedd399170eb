"""Working a ticket together: comments, internal notes, attachments, and assigning it to a
colleague of the ticket's agency. The caller checks that the user may see the ticket and
owns the transaction.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from dispatch.accounts.models import User
from dispatch.core.errors import InvalidField, NotFound
from dispatch.i18n import explain
from dispatch.tickets.models import Ticket, TicketAttachment, TicketComment
from dispatch.tickets.service import record

MAX_COMMENT = 4000
MAX_FILE_NAME = 200
AGENCY_ROLES = ("staff", "supervisor")
# what a file must start with to be taken as the content type it claims (or is given)
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
}
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")


@dataclass(frozen=True)
class Upload:
    file_name: str
    data: bytes


def add_comment(*, db_session: Session, ticket: Ticket, author: str, body: str,
                internal: bool) -> TicketComment:
    text = body.strip()
    if not text:
        raise InvalidField("note", explain.COMMENT_EMPTY())
    if len(text) > MAX_COMMENT:
        raise InvalidField("note", explain.OVER_CHARACTER_LIMIT(length=len(text), limit=MAX_COMMENT))
    comment = TicketComment(ticket_id=ticket.id, author=author, body=text, internal=internal)
    db_session.add(comment)
    record(db_session=db_session, ticket=ticket, actor=author,
           action="internal_note" if internal else "comment", from_status=ticket.status)
    return comment


def comments(*, db_session: Session, ticket_id: int, internal: bool = True) -> list[TicketComment]:
    """Oldest first; ``internal=False`` leaves the internal notes out (for public output)."""
    stmt = select(TicketComment).where(TicketComment.ticket_id == ticket_id)
    if not internal:
        stmt = stmt.where(TicketComment.internal.is_(False))
    return list(db_session.scalars(stmt.order_by(TicketComment.id)))


def colleagues(*, db_session: Session, agency: str | None) -> list[User]:
    """The active staff and supervisors of the agency (none for a ticket in triage)."""
    if agency is None:
        return []
    return list(db_session.scalars(
        select(User).where(User.agency == agency, User.active.is_(True),
                           User.role.in_(AGENCY_ROLES)).order_by(User.username)))


def assign(*, db_session: Session, ticket: Ticket, assignee: str, actor: str) -> None:
    """Give the ticket to an active colleague of the ticket's agency."""
    name = assignee.strip().lower()
    if ticket.agency is None:
        raise InvalidField("assignee", explain.TRIAGE_HAS_NO_AGENCY())
    user = db_session.scalar(select(User).where(User.username == name))
    if user is None or not user.active or user.agency != ticket.agency \
            or user.role not in AGENCY_ROLES:
        raise InvalidField("assignee", explain.NOT_A_COLLEAGUE(user=assignee[:64], agency=ticket.agency))
    before = ticket.assignee
    ticket.assignee = user.username
    record(db_session=db_session, ticket=ticket, actor=actor, action="assign",
           from_status=ticket.status, data={"from": before, "to": user.username})


def sniff(data: bytes, allowed: tuple[str, ...]) -> str | None:
    """The allowed content type the bytes really are, or None."""
    for content_type in allowed:
        for magic in SIGNATURES[content_type]:
            if data.startswith(magic) and (content_type != "image/webp" or data[8:12] == b"WEBP"):
                return content_type
    return None


def clean_file_name(name: str) -> str:
    """The last path part, without control characters, at most MAX_FILE_NAME characters."""
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in unicodedata.normalize("NFC", base)
                   if unicodedata.category(ch)[0] != "C").strip().strip(".")
    return base[:MAX_FILE_NAME] or "file"


def check_upload(*, upload: Upload, max_bytes: int, allowed: tuple[str, ...], field: str) -> str:
    """The content type sniffed from the bytes; InvalidField names the field and the limit."""
    if not upload.data:
        raise InvalidField(field, explain.FILE_EMPTY())
    if len(upload.data) > max_bytes:
        raise InvalidField(field, explain.FILE_TOO_LARGE(limit=max_bytes))
    content_type = sniff(upload.data, allowed)
    if content_type is None:
        raise InvalidField(field, explain.FILE_TYPE(types=", ".join(allowed)))
    return content_type


def add_attachment(*, db_session: Session, ticket: Ticket, uploaded_by: str, upload: Upload,
                   max_bytes: int, allowed: tuple[str, ...] = tuple(SIGNATURES),
                   purpose: str = "attachment", field: str = "file") -> TicketAttachment:
    """Store the file when it is under the limit and its bytes are of an allowed type."""
    content_type = check_upload(upload=upload, max_bytes=max_bytes, allowed=allowed, field=field)
    attachment = TicketAttachment(
        ticket_id=ticket.id, uploaded_by=uploaded_by, file_name=clean_file_name(upload.file_name),
        content_type=content_type, size=len(upload.data), purpose=purpose, data=upload.data)
    db_session.add(attachment)
    record(db_session=db_session, ticket=ticket, actor=uploaded_by, action="attach",
           from_status=ticket.status, data={"file_name": attachment.file_name})
    return attachment


def attachments(*, db_session: Session, ticket_id: int) -> list[TicketAttachment]:
    return list(db_session.scalars(select(TicketAttachment).where(
        TicketAttachment.ticket_id == ticket_id).order_by(TicketAttachment.id)))


def get_attachment(*, db_session: Session, ticket_id: int, attachment_id: int) -> TicketAttachment:
    """The attachment with its bytes, when it belongs to this ticket."""
    found = db_session.scalar(select(TicketAttachment).options(undefer(TicketAttachment.data)).where(
        TicketAttachment.id == attachment_id, TicketAttachment.ticket_id == ticket_id))
    if found is None:
        raise NotFound("attachment", attachment_id)
    return found

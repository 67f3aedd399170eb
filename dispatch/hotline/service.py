"""What the hotline needs from the system of record: conversations, reports, public status.

Typed, keyword-only services; the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agents.hotline import Passage, PublicStatus, RatingOutcome, RatingRequest
from agents.hotline_intake import ReportForm
from dispatch.city.config import CityConfig
from dispatch.hotline.kb import Hit
from dispatch.hotline.models import HotlineConversation
from dispatch.intake import service as intake_service
from dispatch.intake.models import Event
from dispatch.intake.schemas import Contact, EventCreate
from dispatch.tickets import public_updates
from dispatch.tickets import service as ticket_service
from dispatch.tickets.actions import apply_action
from dispatch.tickets.models import Ticket
from dispatch.tickets.schemas import ActionRequest

HOTLINE_SOURCE = "hotline"


def load_state(
    *, db_session: Session, conversation_id: uuid.UUID | None, for_update: bool = False,
) -> tuple[uuid.UUID, dict[str, Any]]:
    """(id, state) of the conversation; an unknown or missing id starts a new one.

    ``for_update`` locks the conversation's row until the transaction ends."""
    if conversation_id is not None:
        row = db_session.get(HotlineConversation, conversation_id, with_for_update=for_update)
        if row is not None:
            return row.id, dict(row.state)
    return uuid.uuid4(), {}


def save_state(*, db_session: Session, conversation_id: uuid.UUID, state: dict[str, Any]) -> None:
    row = db_session.get(HotlineConversation, conversation_id, with_for_update=True)
    if row is None:
        db_session.add(HotlineConversation(id=conversation_id, state=state))
    else:
        row.state = state
    db_session.flush()


def event_from_form(form: ReportForm) -> EventCreate:
    """The complaint as an event, as ``POST /api/events`` would receive it."""
    description = form.what or ""
    if form.when:
        noticed = "（发现时间：{}）" if form.language == "zh" else " (noticed: {})"
        description = description + noticed.format(form.when)
    contact = None
    if form.contact_name or form.contact_phone or form.contact_email:
        contact = Contact(name=form.contact_name, phone=form.contact_phone, email=form.contact_email)
    return EventCreate(source=HOTLINE_SOURCE, description=description, address=form.where,
                       contact=contact)


def submit_report(
    *, db_session: Session, city: CityConfig, form: ReportForm, max_image_bytes: int,
    conversation_id: uuid.UUID,
) -> Event:
    """Store the report as an event; the caller enqueues it after the commit.

    Confirming the same form twice in one conversation stores one event.
    """
    digest = hashlib.sha256(form.model_dump_json().encode()).hexdigest()[:32]
    event, _ = intake_service.create_event(
        db_session=db_session, city=city, data=event_from_form(form), max_image_bytes=max_image_bytes,
        idempotency_key=f"hotline:{conversation_id}:{digest}")
    return event


def public_status(*, db_session: Session, city: CityConfig, reference: str) -> PublicStatus | None:
    """A ticket's (or a not yet routed report's) public status: status, category, agency."""
    ticket = db_session.scalar(select(Ticket).where(Ticket.reference == reference))
    if ticket is None:
        try:
            event = db_session.get(Event, uuid.UUID(reference))
        except ValueError:
            return None
        if event is None:
            return None
        ticket = ticket_service.ticket_for_incident(db_session=db_session, incident_id=event.incident_id)
        if ticket is None:
            zh = city.city.language.startswith("zh")
            return PublicStatus(reference=reference,
                                status="received" + ("" if zh else " (not yet routed)"),
                                category=event.category_hint or ("待分类" if zh else "not yet classified"))
    category = city.category(ticket.category)
    agency = city.agency(ticket.agency) if ticket.agency else None
    desk = "热线分派中心" if city.city.language.startswith("zh") else "the dispatch desk"
    update = public_updates.latest(db_session=db_session, ticket_ids=[ticket.id]).get(ticket.id)
    return PublicStatus(
        reference=ticket.reference, status=ticket.status,
        category=category.name if category else ticket.category,
        agency=agency.name if agency else (desk if ticket.status == "triage" else None),
        update=update, awaiting_rating=city.workflow.callback and ticket.status == "resolved")


HOTLINE_ACTOR = "hotline"


def _digits(phone: str | None) -> str:
    """The last 11 digits of a phone number: "+86 138-1234-5678" and "13812345678" agree."""
    return "".join(ch for ch in phone or "" if ch.isdigit())[-11:]


def _reported_by_caller(*, db_session: Session, ticket: Ticket, request: RatingRequest) -> bool:
    """Whether the caller reported the ticket: one of its reports came from this
    conversation, or carries the phone number the caller gives."""
    events = db_session.scalars(select(Event).where(Event.incident_id == ticket.incident_id)).all()
    if any(str(event.id) in request.events for event in events):
        return True
    given = _digits(request.phone)
    return len(given) >= 7 and any(
        _digits((event.contact or {}).get("phone")) == given for event in events)


def rate_ticket(*, db_session: Session, city: CityConfig, request: RatingRequest) -> RatingOutcome:
    """The callback (回访) rating a citizen gives on the hotline, by the lifecycle's own
    ``callback`` action: 满意 / 基本满意 close the ticket, 不满意 reopens it with the rating
    and the citizen's words as the note. Only a resolved ticket of a city with the callback
    step is rated, and only by the person who reported it."""
    ticket = db_session.scalar(select(Ticket).where(Ticket.reference == request.reference)
                               .with_for_update(of=Ticket))
    if ticket is None:
        return "not_found"
    if not city.workflow.callback or ticket.status != "resolved":
        return "not_allowed"
    if not _reported_by_caller(db_session=db_session, ticket=ticket, request=request):
        return "unverified"
    action = ActionRequest(actor=HOTLINE_ACTOR, note=request.note, rating=request.rating)
    moved, _ = apply_action(db_session=db_session, city=city, ticket_id=ticket.id,
                            action="callback", request=action)
    return "reopened" if moved.status == "open" else "closed"


def passages(hits: list[Hit]) -> list[Passage]:
    return [Passage(title=h.title, source=h.source, text=h.text, score=h.answer_score, measure=h.measure)
            for h in hits]

"""The ticket page's content: the ticket, its snapshot and box, the map pin, comments and
internal notes, attachments, colleagues to assign to, and the actions open to the user."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import SignedIn
from api.config import ApiConfig
from api.web.maps import LEAFLET_CSS, LEAFLET_JS, map_data
from api.web.render import page
from dispatch.core.runtime import Runtime
from dispatch.intake.models import Event
from dispatch.intake.service import ImageTooLarge, image_size
from dispatch.tickets import access, collab, inbox, public_updates
from dispatch.tickets.access import visible_ticket
from dispatch.tickets.collab import PHOTO_TYPES
from dispatch.tickets.lifecycle import allowed_actions
from dispatch.tickets.models import Ticket


def event_image(db: Session, event_id: uuid.UUID) -> tuple[bytes, str] | None:
    """The event's image and the type sniffed from its bytes (None when it is not a photo)."""
    row = db.execute(select(Event.image).where(Event.id == event_id)).one_or_none()
    if row is None or not row.image:
        return None
    content_type = collab.sniff(row.image, PHOTO_TYPES)
    return (row.image, content_type) if content_type else None


def _box(raw: object, width: int, height: int) -> list[float] | None:
    """A camera's ``[x1, y1, x2, y2]`` in pixels, clipped to the image, as x, y, w, h."""
    if not (isinstance(raw, list) and len(raw) == 4 and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in raw)):
        return None
    x1, y1 = max(0.0, float(min(raw[0], raw[2]))), max(0.0, float(min(raw[1], raw[3])))
    x2, y2 = min(float(width), float(max(raw[0], raw[2]))), min(float(height), float(max(raw[1], raw[3])))
    return [x1, y1, x2 - x1, y2 - y1] if x2 > x1 and y2 > y1 else None


def snapshot_view(db: Session, event: Event | None) -> dict[str, Any] | None:
    """The snapshot's size and, when the camera gave one, its box."""
    if event is None:
        return None
    image = event_image(db, event.id)
    if image is None:
        return None
    try:
        size = image_size(image[0])
    except ImageTooLarge:  # stored before the pixel limit existed: not drawn, not a crash
        return None
    if size is None:
        return None
    width, height = size
    attributes = event.attributes or {}
    raw = attributes.get("box")
    frame = attributes.get("frame")
    if isinstance(raw, list) and isinstance(frame, list) and len(frame) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in frame):
        # the box is in the camera frame's pixels; the snapshot of a wide frame is shrunk
        scale_x, scale_y = width / frame[0], height / frame[1]
        raw = [v * s if isinstance(v, int | float) and not isinstance(v, bool) else v
               for v, s in zip(raw, (scale_x, scale_y, scale_x, scale_y), strict=False)]
    return {"width": width, "height": height, "box": _box(raw, width, height)}


def _pins(ticket: Ticket) -> list[dict[str, object]]:
    incident = ticket.incident
    if incident.lat is None or incident.lon is None:
        return []
    return [{"id": ticket.id, "reference": ticket.reference, "title": ticket.title,
             "status": ticket.status, "category": ticket.category, "lat": incident.lat,
             "lon": incident.lon}]


def ticket_page_response(request: Request, db: Session, rt: Runtime, config: ApiConfig,
                         who: SignedIn, ticket_id: int, *, error: str | None = None,
                         status: int = 200) -> HTMLResponse:
    db.rollback()  # a failed action's transaction is over; read the ticket afresh
    ticket = visible_ticket(db_session=db, user=who.user, ticket_id=ticket_id)
    event = db.get(Event, ticket.incident.origin_event_id)
    return page(request, "inbox/ticket.html", {
        "who": who, "ticket": ticket, "incident": ticket.incident, "event": event,
        "actions": access.actions_for(who.user, allowed_actions(
            ticket.status, callback=rt.city.workflow.callback)),
        "agencies": rt.city.agencies, "categories": rt.city.categories,
        "may_recategorize": access.may(who.user, access.RECATEGORIZE),
        "sla": inbox.sla_state(ticket), "error": error,
        "comments": collab.comments(db_session=db, ticket_id=ticket.id),
        "attachments": collab.attachments(db_session=db, ticket_id=ticket.id),
        "colleagues": collab.colleagues(db_session=db, agency=ticket.agency),
        "snapshot": snapshot_view(db, event), "leaflet_js": LEAFLET_JS, "leaflet_css": LEAFLET_CSS,
        "map": map_data(city=rt.city, config=config, pins=_pins(ticket)),
        "max_upload": config.max_image_bytes, "public_actions": public_updates.PUBLIC_ACTIONS,
    }, status=status)

"""POST /api/events: any source hands an event to the loop; 202 at once, work on queues."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from api.deps import ConfigDep, RuntimeDep, SessionDep
from dispatch.intake import service as intake_service
from dispatch.intake.flows import submit_event
from dispatch.intake.schemas import EventAccepted, EventCreate, EventRead
from dispatch.tickets import service as ticket_service

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/events", tags=["events"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=EventAccepted)
def post_event(
    body: EventCreate, db: SessionDep, rt: RuntimeDep, config: ConfigDep, response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> EventAccepted:
    event, created = submit_event(
        db_session=db, city=rt.city, data=body, max_image_bytes=config.max_image_bytes,
        idempotency_key=idempotency_key, max_megapixels=config.max_image_megapixels)
    if not created:
        response.status_code = status.HTTP_200_OK
    return EventAccepted(
        id=event.id, status=event.status, duplicate=not created,
        links={"self": f"/api/events/{event.id}"})


@router.get("/{event_id}", response_model=EventRead)
def get_event(event_id: uuid.UUID, db: SessionDep) -> EventRead:
    event = intake_service.get_event(db_session=db, event_id=event_id)
    ticket = ticket_service.ticket_for_incident(db_session=db, incident_id=event.incident_id)
    read = EventRead.model_validate(event)
    read.ticket_id = ticket.id if ticket else None
    return read

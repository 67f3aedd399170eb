"""Events in: store one event (idempotently) and queue its understanding after the commit.

Every channel comes through here — ``POST /api/events``, Open311, the hotline's reports and
camera tracks (``dispatch.intake.camera``) store with the same ``create_event``. A broker
that is down when the event is stored is not the caller's error: the event is kept and
the sweeper (``dispatch.tasks.sweep``) queues it later.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.orm import Session

from dispatch.city.config import CityConfig
from dispatch.core.queues import enqueue_understand
from dispatch.intake import open311
from dispatch.intake.models import Event
from dispatch.intake.schemas import EventCreate
from dispatch.intake.service import create_event

log = logging.getLogger(__name__)


def queue_understanding(event: Event) -> bool:
    """Queue the event's understanding; False (and a warning) when the broker is down."""
    try:
        enqueue_understand(event.id)
    except (BrokerError, OSError) as exc:
        log.warning("%s event %s stored; enqueue deferred to the sweeper: %s", event.source, event.id, exc)
        return False
    return True


def submit_event(
    *, db_session: Session, city: CityConfig, data: EventCreate, max_image_bytes: int,
    idempotency_key: str | None = None, **limits: Any,
) -> tuple[Event, bool]:
    """(event, created). A repeat of an earlier key returns the first event and queues nothing.

    ``db_session`` must not be in a transaction: this flow owns it."""
    with db_session.begin():
        event, created = create_event(db_session=db_session, city=city, data=data,
                                      max_image_bytes=max_image_bytes, idempotency_key=idempotency_key,
                                      **limits)
    if created:
        queue_understanding(event)
    return event, created


def submit_open311(
    *, db_session: Session, city: CityConfig, submission: open311.Submission, max_image_bytes: int,
) -> Event:
    """An Open311 service request as an event, queued after the commit."""
    with db_session.begin():
        event = open311.store(db_session=db_session, city=city, submission=submission,
                              max_image_bytes=max_image_bytes)
    queue_understanding(event)
    return event

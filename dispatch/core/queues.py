"""Sending the next step of the loop: one function per task, by task name, after a commit.

Flows call these once their transaction has committed; the tasks themselves live in
``dispatch.tasks`` and ``dispatch.cameras.tasks``. Sending by name keeps the flows free of
the task modules (which import the flows). A broker error propagates: the caller decides
whether the work can wait for the sweeper.
"""

from __future__ import annotations

import logging
import uuid

from dispatch.core.celery_app import (
    MAINTENANCE_QUEUE,
    PERCEPTION_QUEUE,
    ROUTE_QUEUE,
    UNDERSTAND_QUEUE,
    app,
)
from dispatch.core.runtime import get_runtime

log = logging.getLogger(__name__)

UNDERSTAND_TASK = "cityloop.understand_event"
ROUTE_TASK = "cityloop.route_incident"
DELIVER_TASK = "cityloop.deliver_ticket"
CHANNEL_TASK = "cityloop.deliver_channel"
CLIP_TASK = "cityloop.ingest_clip"


def enqueue_understand(event_id: uuid.UUID | str) -> None:
    app.send_task(UNDERSTAND_TASK, args=[str(event_id)], queue=UNDERSTAND_QUEUE)


def enqueue_route(incident_id: uuid.UUID | str) -> None:
    app.send_task(ROUTE_TASK, args=[str(incident_id)], queue=ROUTE_QUEUE)


def enqueue_delivery(ticket_id: int, routing_seq: int, agency: str | None) -> None:
    if agency is None:
        return  # a triage ticket waits for a dispatcher, not for a queue
    found = get_runtime().city.agency(agency)
    if found is None:
        log.error("ticket %s routed to unknown agency %r", ticket_id, agency)
        return
    app.send_task(DELIVER_TASK, args=[ticket_id, routing_seq], queue=found.queue)


def agency_queue(agency: str) -> str:
    found = get_runtime().city.agency(agency)
    return found.queue if found is not None else MAINTENANCE_QUEUE


def enqueue_channel(delivery_id: int, agency: str, countdown: float | None = None) -> None:
    """One channel delivery on the agency's queue (an agency gone from the city file: the
    maintenance queue, where the delivery is dead-lettered with that reason)."""
    app.send_task(CHANNEL_TASK, args=[delivery_id], queue=agency_queue(agency), countdown=countdown)


def enqueue_clip(job_id: uuid.UUID | str) -> None:
    app.send_task(CLIP_TASK, args=[str(job_id)], queue=PERCEPTION_QUEUE)

"""A dispatcher's retry of a quarantined item: out of quarantine in one transaction, sent
again after the commit (a broker that is down then leaves it to the sweeper, which now
sees the item again)."""

from __future__ import annotations

import logging
import uuid
from typing import NamedTuple

from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.orm import Session

from dispatch.core.queues import (
    DELIVER_TASK,
    ROUTE_TASK,
    UNDERSTAND_TASK,
    enqueue_delivery,
    enqueue_route,
    enqueue_understand,
)
from dispatch.quarantine import service
from dispatch.tickets.models import Ticket

log = logging.getLogger(__name__)


class Released(NamedTuple):
    task: str
    item: str
    queued: bool
    """False when the broker was down: the sweeper sends it."""


def retry_quarantined(*, db_session: Session, quarantine_id: int, actor: str) -> Released:
    """Release the item and send it again. ``db_session`` must not be in a transaction:
    this flow owns it."""
    delivery: tuple[int, int, str | None] | None = None
    with db_session.begin():
        task, item = service.release(db_session=db_session, quarantine_id=quarantine_id)
        if task == DELIVER_TASK and item.isdigit():
            ticket = db_session.get(Ticket, int(item))
            delivery = (ticket.id, ticket.routing_seq, ticket.agency) if ticket else None
    log.info("%s released %s[%s] from quarantine", actor, task, item)
    try:
        if task == UNDERSTAND_TASK:
            enqueue_understand(uuid.UUID(item))
        elif task == ROUTE_TASK:
            enqueue_route(uuid.UUID(item))
        elif delivery is not None:
            enqueue_delivery(*delivery)
    except (BrokerError, OSError) as exc:
        log.warning("%s[%s] released; the sweeper will send it: %s", task, item, exc)
        return Released(task, item, queued=False)
    return Released(task, item, queued=True)

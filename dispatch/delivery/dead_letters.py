"""Dead letters for operators: list them, retry one (once) from the start of its tries."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.core.errors import DispatchError, NotFound
from dispatch.delivery.models import DeadLetter, Delivery
from dispatch.i18n import explain
from dispatch.tickets.models import Ticket
from dispatch.tickets.service import record


class AlreadyRetried(DispatchError):
    def __init__(self, letter: DeadLetter) -> None:
        self.letter = letter
        when = letter.retried_at.isoformat() if letter.retried_at else "?"
        super().__init__(f"dead letter {letter.id} was already retried by {letter.retried_by} "
                         f"at {when}")


def list_dead_letters(*, db_session: Session, include_retried: bool, cursor: int | None,
                      limit: int) -> tuple[list[tuple[DeadLetter, str]], int | None]:
    """Newest first, with each ticket's reference; keyset-paginated on the id."""
    stmt = (select(DeadLetter, Ticket.reference).join(Ticket, Ticket.id == DeadLetter.ticket_id)
            .order_by(DeadLetter.id.desc()).limit(limit + 1))
    if not include_retried:
        stmt = stmt.where(DeadLetter.retried_at.is_(None))
    if cursor is not None:
        stmt = stmt.where(DeadLetter.id < cursor)
    rows = [(row[0], row[1]) for row in db_session.execute(stmt)]
    next_cursor = rows[limit - 1][0].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def get_dead_letter(*, db_session: Session, dead_letter_id: int) -> DeadLetter:
    letter = db_session.get(DeadLetter, dead_letter_id)
    if letter is None:
        raise NotFound("dead letter", dead_letter_id)
    return letter


def retry(*, db_session: Session, dead_letter_id: int, actor: str) -> tuple[int, str]:
    """Put the delivery back to pending with fresh tries. Returns (delivery id, agency) to
    enqueue after the commit; AlreadyRetried on a second retry of the same letter."""
    letter = db_session.scalar(select(DeadLetter).where(DeadLetter.id == dead_letter_id)
                               .with_for_update())
    if letter is None:
        raise NotFound("dead letter", dead_letter_id)
    if letter.retried_at is not None:
        raise AlreadyRetried(letter)
    delivery = db_session.scalar(select(Delivery).where(Delivery.id == letter.delivery_id)
                                 .with_for_update())
    ticket = db_session.get(Ticket, letter.ticket_id)
    assert delivery is not None and ticket is not None
    letter.retried_at, letter.retried_by = datetime.now(UTC), actor
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, None
    record(db_session=db_session, ticket=ticket, actor=actor, action="delivery_retry",
           from_status=ticket.status, note=explain.DELIVERY_RETRY(channel=letter.channel, agency=letter.agency),
           data={"dead_letter_id": letter.id, "channel": letter.channel})
    return delivery.id, delivery.agency

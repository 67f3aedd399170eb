"""The inbox query: filters, full-text search, SLA state and keyset pagination."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import UserDefinedType

from dispatch.incidents.models import Incident
from dispatch.tickets.lifecycle import ACTIVE
from dispatch.tickets.models import Ticket

SlaState = Literal["breached", "due_soon", "on_time"]
DUE_SOON = timedelta(hours=2)
STATUS_VIEWS = ("active", "all", "triage", "open", "acknowledged", "in_progress", "resolved",
                "closed", "rejected")


class InboxFilter(BaseModel):
    """What the inbox shows; every field is optional. ``status="active"`` is the default view."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    status: Literal["active", "all", "triage", "open", "acknowledged", "in_progress",
                    "resolved", "closed", "rejected"] = "active"
    category: str | None = Field(default=None, max_length=64)
    priority: str | None = Field(default=None, max_length=16)
    district: str | None = Field(default=None, max_length=64)
    agency: str | None = Field(default=None, max_length=64)
    sla: SlaState | None = None
    q: str | None = Field(default=None, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """An HTML form sends an unchosen select as an empty string."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    def query(self) -> dict[str, str]:
        """The non-default fields, for links that keep the current filters."""
        return {k: str(v) for k, v in self.model_dump(exclude_defaults=True).items()
                if v is not None}


def _sla(state: SlaState, now: datetime) -> ColumnElement[bool]:
    active = Ticket.status.in_(ACTIVE)
    late = or_(Ticket.sla_breached.is_(True), Ticket.sla_due_at < now)
    if state == "breached":
        return and_(active, late)
    if state == "due_soon":
        return and_(active, not_(late), Ticket.sla_due_at < now + DUE_SOON)
    return and_(active, not_(late), Ticket.sla_due_at >= now + DUE_SOON)


class _PgSnapshot(UserDefinedType[str]):
    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "pg_snapshot"


PG_SNAPSHOT = _PgSnapshot()
# the transaction that brought the ticket to its agency; kept by the database (migration 0012)
ARRIVAL_XID: ColumnClause[Any] = literal_column("tickets.arrival_xid")
# title, incident description and reference; kept by a trigger and GIN-indexed (migration 0008)
SEARCH_DOC: ColumnClause[Any] = literal_column("tickets.search_doc")


def _search(q: str) -> ColumnElement[bool]:
    return SEARCH_DOC.op("@@")(func.websearch_to_tsquery("english", q))


def matching(*, scope: str | None, where: InboxFilter, now: datetime) -> Select[Ticket]:
    stmt = select(Ticket).join(Incident, Ticket.incident_id == Incident.id)
    if scope is not None:
        stmt = stmt.where(Ticket.agency == scope)
    if where.status == "active":
        stmt = stmt.where(Ticket.status.in_(ACTIVE))
    elif where.status != "all":
        stmt = stmt.where(Ticket.status == where.status)
    for column, value in ((Ticket.category, where.category), (Ticket.priority, where.priority),
                          (Ticket.district, where.district), (Ticket.agency, where.agency)):
        if value:
            stmt = stmt.where(column == value)
    if where.sla:
        stmt = stmt.where(_sla(where.sla, now))
    if where.q:
        stmt = stmt.where(_search(where.q))
    return stmt


def search(*, db_session: Session, scope: str | None, where: InboxFilter, cursor: int | None,
           limit: int, now: datetime | None = None) -> tuple[list[Ticket], int | None]:
    """Newest first, keyset-paginated on the id; ``scope`` limits to one agency."""
    stmt = matching(scope=scope, where=where, now=now or datetime.now(UTC))
    if cursor is not None:
        stmt = stmt.where(Ticket.id < cursor)
    rows = list(db_session.scalars(stmt.order_by(Ticket.id.desc()).limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def newer_than(*, db_session: Session, scope: str | None, where: InboxFilter, seen: str | None,
               limit: int = 50) -> list[Ticket]:
    """Tickets that reached their agency in a transaction the page's snapshot ``seen`` could
    not see (created, rerouted or reassigned since), newest first; every match without one."""
    stmt = matching(scope=scope, where=where, now=datetime.now(UTC))
    if seen is not None:
        snapshot = cast(literal(seen, Text), PG_SNAPSHOT)
        stmt = stmt.where(ARRIVAL_XID >= func.pg_snapshot_xmin(snapshot),
                          not_(func.pg_visible_in_snapshot(ARRIVAL_XID, snapshot)))
    return list(db_session.scalars(stmt.order_by(Ticket.id.desc()).limit(limit)))


def sla_state(ticket: Ticket, now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    if ticket.status not in ACTIVE:
        return "done"
    if ticket.sla_breached or ticket.sla_due_at < moment:
        return "breached"
    return "due_soon" if ticket.sla_due_at < moment + DUE_SOON else "on_time"


def watermark(*, db_session: Session) -> str:
    """What the inbox polls from: the database's snapshot (``xmin:xmax:in-progress``), read
    before the page's own query. A ticket whose transaction had not committed by then is
    outside it, whatever its id or clock time, and shows at the next poll once committed."""
    return str(db_session.scalar(select(cast(func.pg_current_snapshot(), Text))))


SNAPSHOT = re.compile(r"^(\d{1,19}):(\d{1,19}):((?:\d{1,19}(?:,\d{1,19})*)?)$")
MAX_SNAPSHOT_CHARS = 4000


def snapshot_problem(seen: str) -> str | None:
    """Why ``seen`` is not a snapshot ``watermark`` could have given, or None."""
    match = SNAPSHOT.match(seen) if len(seen) <= MAX_SNAPSHOT_CHARS else None
    if match is None:
        return "not a watermark this page gave (xmin:xmax:xip,...)"
    xmin, xmax = int(match.group(1)), int(match.group(2))
    running = [int(x) for x in match.group(3).split(",") if x]
    if not 0 < xmin <= xmax < 2**63 or running != sorted(running) \
            or any(not xmin <= x < xmax for x in running):
        return "not a watermark this page gave (xmin <= running < xmax, in order)"
    return None

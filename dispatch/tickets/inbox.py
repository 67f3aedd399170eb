"""The inbox query: filters, full-text search, SLA state and keyset pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnClause, ColumnElement, Select, and_, func, literal_column, not_, or_, select
from sqlalchemy.orm import Session

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


def newer_than(*, db_session: Session, scope: str | None, where: InboxFilter, since: int,
               arrived_after: datetime | None = None, limit: int = 50) -> list[Ticket]:
    """Tickets that arrived after the page was rendered, newest first: ids above ``since``
    (created since), or, whatever their id, reaching their agency after ``arrived_after``
    (rerouted after a rejection, reassigned by a dispatcher)."""
    arrived = Ticket.id > since
    if arrived_after is not None:
        arrived = or_(arrived, Ticket.arrived_at > arrived_after)
    stmt = matching(scope=scope, where=where, now=datetime.now(UTC)).where(arrived)
    return list(db_session.scalars(stmt.order_by(Ticket.id.desc()).limit(limit)))


def sla_state(ticket: Ticket, now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    if ticket.status not in ACTIVE:
        return "done"
    if ticket.sla_breached or ticket.sla_due_at < moment:
        return "breached"
    return "due_soon" if ticket.sla_due_at < moment + DUE_SOON else "on_time"


def watermark(*, db_session: Session) -> tuple[int, datetime]:
    """What the inbox polls from: the newest ticket id and the database's clock, both read
    before the page's own query, so nothing committed in between is missed."""
    row = db_session.execute(select(func.max(Ticket.id), func.now())).one()
    return int(row[0] or 0), row[1]

"""What the dashboard shows: open tickets by category, agency and status, SLA compliance,
the open incidents on a map, tickets created and resolved per day, and the CSV export.

``scope`` limits every figure to one agency (staff and supervisors); None is every agency.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.orm import Session

from dispatch.incidents.models import Incident
from dispatch.tickets.inbox import InboxFilter, matching, sla_state
from dispatch.tickets.lifecycle import ACTIVE
from dispatch.tickets.models import Ticket, TicketHistory

OPEN = ("triage", *ACTIVE)
TREND_DAYS = 30
MAX_PINS = 500
CSV_COLUMNS = ("id", "reference", "created_at", "status", "priority", "category", "district",
               "agency", "assignee", "title", "sla_due_at", "sla_state")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Sla:
    done: int = 0
    done_on_time: int = 0
    open: int = 0
    open_overdue: int = 0

    @property
    def compliance(self) -> float | None:
        """Share of the tickets resolved in the window that were resolved by their due time."""
        return self.done_on_time / self.done if self.done else None


@dataclass
class Summary:
    by_category: list[tuple[str, int]]
    by_agency: list[tuple[str, int]]
    by_status: list[tuple[str, int]]
    sla: Sla
    days: list[date]
    created: list[int]
    resolved: list[int]
    pins: list[dict[str, object]] = field(default_factory=list)
    taken_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _where(scope: str | None, where: InboxFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if scope is not None:
        clauses.append(Ticket.agency == scope)
    for column, value in ((Ticket.category, where.category), (Ticket.priority, where.priority),
                          (Ticket.district, where.district), (Ticket.agency, where.agency)):
        if value:
            clauses.append(column == value)
    return clauses


def _open(db_session: Session, clauses: list[ColumnElement[bool]],
          now: datetime) -> tuple[dict[str, Counter[str]], int, int]:
    """One pass over the open tickets: counts by category, agency and status, and how many
    of the active ones are overdue."""
    agency = func.coalesce(Ticket.agency, "triage")
    late = and_(Ticket.status.in_(ACTIVE), or_(Ticket.sla_breached.is_(True), Ticket.sla_due_at < now))
    stmt = (select(Ticket.category, agency, Ticket.status, func.count(), func.count().filter(late))
            .where(Ticket.status.in_(OPEN), *clauses)
            .group_by(Ticket.category, agency, Ticket.status))
    counts: dict[str, Counter[str]] = {"category": Counter(), "agency": Counter(), "status": Counter()}
    active = overdue = 0
    for category, agency_code, status, n, n_late in db_session.execute(stmt):
        counts["category"][category] += n
        counts["agency"][agency_code] += n
        counts["status"][status] += n
        active += n if status in ACTIVE else 0
        overdue += n_late
    return counts, active, overdue


def _ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def _resolutions(db_session: Session, clauses: list[ColumnElement[bool]],
                 since: datetime) -> tuple[dict[date, int], int, int]:
    """Tickets first resolved since ``since``, per day, and how many of them by their due time."""
    first = (select(TicketHistory.ticket_id, func.min(TicketHistory.at).label("at"))
             .where(TicketHistory.action == "resolve", TicketHistory.at >= since)
             .group_by(TicketHistory.ticket_id).subquery())
    # one primary-key look-up per resolution (OFFSET 0 keeps the planner from turning it into
    # a hash join that reads every ticket)
    ticket = (select(Ticket.sla_due_at).where(Ticket.id == first.c.ticket_id, *clauses)
              .offset(0).lateral())
    day = func.date(func.timezone("UTC", first.c.at))
    stmt = (select(day, func.count(), func.count().filter(first.c.at <= ticket.c.sla_due_at))
            .select_from(first).join(ticket, true()).group_by(day))
    per_day: dict[date, int] = {}
    done = on_time = 0
    for when, n, n_on_time in db_session.execute(stmt):
        per_day[when] = int(n)
        done += int(n)
        on_time += int(n_on_time)
    return per_day, done, on_time


def _created(db_session: Session, clauses: list[ColumnElement[bool]],
             since: datetime) -> dict[date, int]:
    day = func.date(func.timezone("UTC", Ticket.created_at))
    stmt = select(day, func.count()).where(Ticket.created_at >= since, *clauses).group_by(day)
    return {when: int(n) for when, n in db_session.execute(stmt)}


def _pins(db_session: Session, clauses: list[ColumnElement[bool]]) -> list[dict[str, object]]:
    """The newest MAX_PINS open tickets that have a place."""
    stmt = (select(Ticket.id, Ticket.reference, Ticket.title, Ticket.status, Ticket.category,
                   Incident.lat, Incident.lon)
            .join(Incident, Incident.id == Ticket.incident_id)
            .where(Ticket.status.in_(OPEN), Incident.lat.is_not(None), Incident.lon.is_not(None),
                   *clauses)
            .order_by(Ticket.id.desc()).limit(MAX_PINS))
    return [{"id": r.id, "reference": r.reference, "title": r.title, "status": r.status,
             "category": r.category, "lat": r.lat, "lon": r.lon} for r in db_session.execute(stmt)]


def summary(*, db_session: Session, scope: str | None, where: InboxFilter,
            now: datetime | None = None) -> Summary:
    moment = now or datetime.now(UTC)
    today = moment.astimezone(UTC).date()
    first = today - timedelta(days=TREND_DAYS - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    clauses = _where(scope, where)
    counts, active, overdue = _open(db_session, clauses, moment)
    resolved, done, on_time = _resolutions(db_session, clauses, since)
    created = _created(db_session, clauses, since)
    days = [first + timedelta(days=i) for i in range(TREND_DAYS)]
    return Summary(
        by_category=_ranked(counts["category"]), by_agency=_ranked(counts["agency"]),
        by_status=_ranked(counts["status"]),
        sla=Sla(done=done, done_on_time=on_time, open=active, open_overdue=overdue), days=days,
        created=[created.get(d, 0) for d in days], resolved=[resolved.get(d, 0) for d in days],
        pins=_pins(db_session, clauses), taken_at=moment)


def safe_cell(value: object) -> str:
    """A cell a spreadsheet will not run as a formula."""
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


Row = list[object]


def csv_lines(*, db_session: Session, scope: str | None, where: InboxFilter,
              now: datetime | None = None, batch: int = 1000,
              header: Sequence[str] = CSV_COLUMNS, shown: Callable[[Row], Row] | None = None,
              ) -> Iterator[str]:
    """The header, then every ticket the inbox filter matches, newest first. ``header`` and
    ``shown`` (a row of ``CSV_COLUMNS`` values → the values written) let a reader of another
    language get the columns' names and the codes' labels in it; by default, codes."""
    moment = now or datetime.now(UTC)
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        out = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return out

    writer.writerow(header)
    yield flush()
    stmt = matching(scope=scope, where=where, now=moment).order_by(Ticket.id.desc())
    for ticket in db_session.scalars(stmt.execution_options(yield_per=batch)):
        row: Row = [ticket.id, ticket.reference, ticket.created_at, ticket.status, ticket.priority,
                    ticket.category, ticket.district, ticket.agency, ticket.assignee, ticket.title,
                    ticket.sla_due_at, sla_state(ticket, moment)]
        writer.writerow([safe_cell(v) for v in (shown(row) if shown is not None else row)])
        if buffer.tell() > 64_000:
            yield flush()
    yield flush()

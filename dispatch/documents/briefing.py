"""Facts for the daily briefing: what the loop handled over a range of days.

The range is whole days in the city's time zone, both ends included. Counts are of
tickets opened in the range; "overdue" is as of the end of the range (or now, when the
range reaches into the future): tickets opened before then, not yet resolved or closed,
whose SLA was due before then.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from agents.drafter import ProseSection
from dispatch.city.config import CityConfig
from dispatch.core.errors import InvalidField
from dispatch.documents.facts import (
    UNRESOLVED_EXCLUDES,
    Gathered,
    agency_name,
    category_name,
    city_facts,
    local_time,
)
from dispatch.documents.language import language
from dispatch.documents.schemas import MAX_BRIEFING_DAYS, DocumentCreate
from dispatch.incidents.models import Incident
from dispatch.tickets.models import Ticket, TicketHistory

NOTABLE_SEVERITIES = ("critical", "high")
MAX_LISTED = 10


def period_bounds(city: CityConfig, request: DocumentCreate) -> tuple[date, date, datetime, datetime]:
    """(first day, last day, start, end) of the briefing; InvalidField naming the limit."""
    if request.date_from is None or request.date_to is None:
        missing = "date_from" if request.date_from is None else "date_to"
        raise InvalidField(missing, "daily_briefing needs date_from and date_to")
    first, last = request.date_from, request.date_to
    if last < first:
        raise InvalidField("date_to", "must not be before date_from")
    days = (last - first).days + 1
    if days > MAX_BRIEFING_DAYS:
        raise InvalidField("date_to", f"a range of {days} days is over the limit of "
                                      f"{MAX_BRIEFING_DAYS} days")
    zone = ZoneInfo(city.city.timezone)
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0), zone)
    return first, last, start, end


def _counts(db_session: Session, column: Any, start: datetime, end: datetime) -> list[tuple[Any, int]]:
    rows = db_session.execute(
        select(column, func.count()).where(Ticket.created_at >= start, Ticket.created_at < end)
        .group_by(column).order_by(func.count().desc(), column))
    return [(key, count) for key, count in rows]


def _notable(db_session: Session, city: CityConfig, start: datetime, end: datetime
             ) -> list[dict[str, Any]]:
    rank = case({"critical": 0, "high": 1}, value=Incident.severity, else_=2)
    rows = db_session.execute(
        select(Incident, Ticket).join(Ticket, Ticket.incident_id == Incident.id, isouter=True)
        .where(Incident.created_at >= start, Incident.created_at < end,
               Incident.severity.in_(NOTABLE_SEVERITIES))
        .order_by(rank, Incident.created_at).limit(MAX_LISTED))
    return [{"reference": t.reference if t else "-", "title": i.title, "severity": i.severity,
             "category_name": category_name(city, i.category),
             "agency_name": agency_name(city, t.agency if t else None),
             "status": t.status if t else "-", "reported_at": local_time(city, i.created_at)}
            for i, t in rows.tuples()]


def _overdue_filter(as_of: datetime) -> tuple[Any, ...]:
    return (Ticket.created_at < as_of, Ticket.sla_due_at < as_of,
            Ticket.status.not_in(UNRESOLVED_EXCLUDES))


def _overdue(db_session: Session, city: CityConfig, as_of: datetime) -> tuple[int, list[dict[str, Any]]]:
    total = db_session.scalar(select(func.count()).select_from(Ticket)
                              .where(*_overdue_filter(as_of))) or 0
    rows = db_session.scalars(select(Ticket).where(*_overdue_filter(as_of))
                              .order_by(Ticket.sla_due_at, Ticket.id).limit(MAX_LISTED))
    listed = [{"reference": t.reference, "title": t.title, "agency_name": agency_name(city, t.agency),
               "status": t.status, "sla_due_at": local_time(city, t.sla_due_at),
               "hours_overdue": int((as_of - t.sla_due_at).total_seconds() // 3600)} for t in rows]
    return total, listed


def _on_time(db_session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """Of the tickets opened in the range that were resolved (办结), how many were resolved
    by their SLA deadline: the first "resolve" in each ticket's history against its due time.
    ``rate`` is a whole percentage, or None when none was resolved."""
    first_resolve = (select(TicketHistory.ticket_id, func.min(TicketHistory.at).label("at"))
                     .where(TicketHistory.action == "resolve").group_by(TicketHistory.ticket_id)
                     .subquery())
    resolved, on_time = db_session.execute(
        select(func.count(), func.count().filter(first_resolve.c.at <= Ticket.sla_due_at))
        .select_from(Ticket).join(first_resolve, first_resolve.c.ticket_id == Ticket.id)
        .where(Ticket.created_at >= start, Ticket.created_at < end)).one()
    rate = round(100 * on_time / resolved) if resolved else None
    return {"resolved": int(resolved), "on_time": int(on_time), "rate": rate}


def gather_daily_briefing(*, db_session: Session, city: CityConfig,
                          request: DocumentCreate) -> Gathered:
    first, last, start, end = period_bounds(city, request)
    as_of = min(end, datetime.now(UTC))
    by_category = [{"code": code, "name": category_name(city, code), "count": n}
                   for code, n in _counts(db_session, Ticket.category, start, end)]
    by_agency = [{"code": code or "triage", "name": agency_name(city, code), "count": n}
                 for code, n in _counts(db_session, Ticket.agency, start, end)]
    by_status = [{"status": status, "count": n}
                 for status, n in _counts(db_session, Ticket.status, start, end)]
    incidents = db_session.scalar(select(func.count()).select_from(Incident).where(
        Incident.created_at >= start, Incident.created_at < end)) or 0
    overdue_total, overdue = _overdue(db_session, city, as_of)
    facts: dict[str, Any] = {
        "city": city_facts(city),
        "period": {"from": first.isoformat(), "to": last.isoformat(),
                   "days": (last - first).days + 1, "as_of": local_time(city, as_of)},
        "totals": {"tickets": sum(row["count"] for row in by_category), "incidents": incidents,
                   "overdue": overdue_total},
        "on_time": _on_time(db_session, start, end),
        "by_category": by_category, "by_agency": by_agency, "by_status": by_status,
        "notable": _notable(db_session, city, start, end), "overdue": overdue,
    }
    if language(city) == "zh":
        return Gathered(facts=facts, sections=[ProseSection(
            name="summary", max_chars=400, fallback=fallback_summary_zh(facts),
            instruction="用中文写三四句话，供市领导阅读：总体情况、问题最多的类别、需要关注的事项")])
    return Gathered(facts=facts, sections=[ProseSection(
        name="summary", max_chars=600, fallback=_fallback_summary(facts),
        instruction="three or four sentences for the mayor's office: the overall picture, "
                    "the busiest categories, and what needs attention")])


def _fallback_summary(facts: dict[str, Any]) -> str:
    period, totals = facts["period"], facts["totals"]
    text = (f"From {period['from']} to {period['to']}, {totals['tickets']} tickets were opened "
            f"from {totals['incidents']} incidents.")
    if facts["by_category"]:
        top = facts["by_category"][0]
        text += f" The most frequent category was {top['name']} ({top['count']} tickets)."
    text += f" {totals['overdue']} tickets were overdue as of {period['as_of']}."
    return text


def fallback_summary_zh(facts: dict[str, Any]) -> str:
    period, totals, on_time = facts["period"], facts["totals"], facts["on_time"]
    text = (f"{period['from']}至{period['to']}，共受理工单{totals['tickets']}件，"
            f"涉及事件{totals['incidents']}起。")
    if facts["by_category"]:
        top = facts["by_category"][0]
        text += f"数量最多的类别是{top['name']}（{top['count']}件）。"
    if on_time["rate"] is not None:
        text += f"已办结{on_time['resolved']}件，其中按时办结{on_time['on_time']}件，按时办结率{on_time['rate']}%。"
    text += f"截至{period['as_of']}，超期工单{totals['overdue']}件。"
    return text

"""The dashboard and the CSV export. Staff and supervisors see their own agency; dispatchers
and admins every agency. Both honour the inbox filters and refuse what the user may not see.
The dashboard's figures are at most CACHE_S seconds old (the page says when they were taken);
the CSV is always read afresh."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy.orm import Session

from api.auth import UserDep
from api.deps import ConfigDep, RuntimeDep, SessionDep
from api.web.inbox import FilterDep
from api.web.maps import CHART_JS, LEAFLET_CSS, LEAFLET_JS, map_data
from api.web.render import language_of, page
from dispatch import i18n
from dispatch.core.runtime import Runtime
from dispatch.i18n import N_
from dispatch.tickets import access, dashboard
from dispatch.tickets.inbox import InboxFilter

router = APIRouter(include_in_schema=False)
CACHE_S = 10.0


class SummaryCache:
    """The figures per scope and filter for a few seconds, so that many people watching the
    dashboard cost the database one computation, not one each. Kept on the app."""

    def __init__(self, ttl_s: float = CACHE_S, max_keys: int = 256) -> None:
        self.ttl_s = ttl_s
        self.max_keys = max_keys
        self._items: dict[tuple[object, ...], tuple[float, dashboard.Summary]] = {}
        self._lock = threading.Lock()

    def get(self, db: Session, scope: str | None, where: InboxFilter) -> dashboard.Summary:
        key = (scope, *sorted(where.query().items()))
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        summary = dashboard.summary(db_session=db, scope=scope, where=where)
        with self._lock:
            if len(self._items) >= self.max_keys:
                self._items.clear()
            self._items[key] = (now, summary)
        return summary

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def summary_cache(request: Request) -> SummaryCache:
    state = request.app.state
    if not hasattr(state, "dashboard_cache"):
        state.dashboard_cache = SummaryCache()
    return state.dashboard_cache  # type: ignore[no-any-return]


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, db: SessionDep, rt: RuntimeDep, config: ConfigDep,
                   who: UserDep, where: FilterDep) -> HTMLResponse:
    # the figures filter by category, priority, district and agency; a search or an SLA state
    # from an inbox URL is dropped here, so the CSV link below exports what the figures count
    where = where.model_copy(update={"q": None, "sla": None})
    summary = summary_cache(request).get(db, access.agency_scope(who.user), where)
    trend = {"days": [d.isoformat() for d in summary.days], "created": summary.created,
             "resolved": summary.resolved}
    csv_query = urlencode({**where.query(), "status": where.status})
    return page(request, "inbox/dashboard.html", {
        "who": who, "where": where, "city": rt.city, "summary": summary, "trend": trend,
        "all_agencies": access.sees_all_agencies(who.user), "csv_query": csv_query,
        "map": map_data(city=rt.city, config=config, pins=summary.pins),
        "leaflet_js": LEAFLET_JS, "leaflet_css": LEAFLET_CSS, "chart_js": CHART_JS,
        "max_pins": dashboard.MAX_PINS,
    })


CSV_HEADERS: dict[str, str] = {  # the export's columns for a reader of another language
    "id": N_("id"), "reference": N_("reference"), "created_at": N_("created at"),
    "status": N_("status"), "priority": N_("priority"), "category": N_("category"),
    "district": N_("district"), "agency": N_("agency"), "assignee": N_("assignee"),
    "title": N_("title"), "sla_due_at": N_("due at"), "sla_state": N_("SLA state"),
}
BOM = "\ufeff"
"""Before a non-English export: spreadsheet programs then read the file as UTF-8 (without it,
Excel on a Chinese Windows reads GBK and shows mojibake)."""


def _lines(rt: Runtime, scope: str | None, where: InboxFilter, language: str = i18n.DEFAULT,
           ) -> Iterator[str]:
    """In a session of its own: the response streams after the route has returned. English:
    the codes, as scripts read them; another language: its column names, labels and the
    city's names, dates in the city's time zone, with a byte-order mark."""
    with rt.factory() as db:
        if language == i18n.DEFAULT:
            yield from dashboard.csv_lines(db_session=db, scope=scope, where=where)
            return
        names = i18n.CityNames(rt.city, language)
        zone = rt.city.city.timezone

        def shown(row: dashboard.Row) -> dashboard.Row:
            (ident, reference, created, status, priority, category, district, agency, assignee,
             title, due, sla) = row
            return [ident, reference, _local(created, zone),
                    i18n.label(language, i18n.STATUS_LABELS, status),
                    i18n.label(language, i18n.PRIORITY_LABELS, priority), names.category(category),
                    names.district(district), names.agency(agency), assignee, title,
                    _local(due, zone), i18n.label(language, i18n.SLA_LABELS, sla)]

        header = [i18n.gettext(language, CSV_HEADERS[column]) for column in dashboard.CSV_COLUMNS]
        first = True
        for chunk in dashboard.csv_lines(db_session=db, scope=scope, where=where, header=header,
                                         shown=shown):
            yield BOM + chunk if first else chunk
            first = False


def _local(moment: object, zone: str) -> object:
    """A time as the city's wall clock (``2026-12-06 18:13``), which a spreadsheet reads."""
    if not isinstance(moment, datetime):
        return moment
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


@router.get("/tickets.csv")
def tickets_csv(request: Request, rt: RuntimeDep, who: UserDep, where: FilterDep,
                codes: bool = False) -> StreamingResponse:
    """Every ticket the inbox filters match (``status=all`` for every status), newest first;
    cells that a spreadsheet would run as a formula are quoted. In the reader's language;
    ``codes=1``: the codes and English column names whatever the language (for scripts)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        _lines(rt, access.agency_scope(who.user), where,
               i18n.DEFAULT if codes else language_of(request, who.user)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="tickets-{stamp}.csv"',
                 "X-Content-Type-Options": "nosniff"})

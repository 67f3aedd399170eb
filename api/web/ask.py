"""The "Ask the city" page: one box; the filters understood, as chips to change or remove; the
tickets, the map with the layer drawn, the counts by category; "show similar" on each ticket.

A question is parsed once; changing or removing a chip sends the filters themselves back
(``edited=1``), so the page never re-parses what the user corrected.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from agents.ask import STATUSES, AskFilters
from api.auth import UserDep
from api.config import ApiConfig
from api.deps import ConfigDep, RuntimeDep, SessionDep
from api.web.maps import CHART_JS, LEAFLET_CSS, LEAFLET_JS, map_data
from api.web.messages import describe
from api.web.render import language_of, page
from dispatch.ask import service
from dispatch.ask.places import layer_geojson
from dispatch.ask.schemas import AskAnswer
from dispatch.ask.vectors import index_for
from dispatch.city.config import CityConfig
from dispatch.core.errors import InvalidField, NotFound
from dispatch.i18n import CityNames

router = APIRouter(include_in_schema=False)
PAGE_LIMIT = 100
QUESTION_MAX = 300
EXAMPLES = ("fallen trees near schools this week", "open potholes in East Heights older than 3 days",
            "overdue garbage in Riverside", "本周学校附近的倒伏树木", "东区超过3天未处理的坑洼")
LIST_FIELDS = ("categories", "districts", "agencies", "statuses")


def _local(value: str, city: CityConfig) -> datetime | None:
    """A ``datetime-local`` value (the city's wall clock) as an aware moment."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(city.city.timezone))


def edited_filters(request: Request, city: CityConfig) -> AskFilters:
    """The filters the chips sent back, less the one whose remove button was pressed."""
    params = request.query_params
    drop = params.get("drop", "")
    data: dict[str, Any] = {field: [v for v in params.getlist(field) if v and f"{field}:{v}" != drop]
                            for field in LIST_FIELDS}
    for field in ("since", "until"):
        data[field] = None if drop == field else _local(params.get(field, ""), city)
    layer, radius = params.get("near_layer", ""), params.get("radius_m", "")
    data["near"] = {"layer": layer, "radius_m": radius or 0} if layer and drop != "near" else None
    data["overdue"] = {"yes": True, "no": False}.get(params.get("overdue", "")) \
        if drop != "overdue" else None
    data["text"] = None if drop == "text" else params.get("text") or None
    return AskFilters.model_validate(data)


def _map(answer: AskAnswer, city: CityConfig, config: ApiConfig) -> dict[str, Any]:
    pins: list[dict[str, object]] = [
        {"id": r.id, "reference": r.reference, "title": r.title, "status": r.status,
         "category": r.category, "lat": r.lat, "lon": r.lon}
        for r in answer.results if r.lat is not None and r.lon is not None]
    data = map_data(city=city, config=config, pins=pins)
    near = answer.filters.near
    layer = city.layer(near.layer) if near else None
    if near is not None and layer is not None:
        data["layer"] = {"name": layer.label("en"), "kind": layer.kind,
                         "radius_m": near.radius_m, "places": layer_geojson(layer)}
    return data


def _local_value(value: datetime | None, city: CityConfig) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(city.city.timezone)).strftime("%Y-%m-%dT%H:%M")


@router.get("/ask", response_class=HTMLResponse)
def ask_page(request: Request, db: SessionDep, rt: RuntimeDep, config: ConfigDep,
             who: UserDep) -> HTMLResponse:
    question = (request.query_params.get("q") or "").strip()[:QUESTION_MAX]
    context: dict[str, Any] = {
        "who": who, "q": question, "city": rt.city, "examples": EXAMPLES, "statuses": STATUSES,
        "answer": None, "error": None, "leaflet_js": LEAFLET_JS, "leaflet_css": LEAFLET_CSS,
        "chart_js": CHART_JS, "local": lambda v: _local_value(v, rt.city)}
    edited = request.query_params.get("edited") == "1"
    if not question and not edited:
        return page(request, "inbox/ask.html", context)
    try:
        filters = edited_filters(request, rt.city) if edited else None
        answer = service.ask(db_session=db, city=rt.city, user=who.user, question=question,
                             index=index_for(rt.engine), embedder=rt.embedder, chat=rt.chat,
                             edited=filters, limit=PAGE_LIMIT)
    except (ValidationError, ValueError, InvalidField) as exc:
        language = language_of(request, who.user)
        context["error"] = _message(exc) if language == "en" else describe(exc, language)
        return page(request, "inbox/ask.html", context, status=422)
    names = CityNames(rt.city, language_of(request, who.user))
    chart = {"labels": [names.category_name(c.category) for c in answer.by_category],
             "counts": [c.count for c in answer.by_category]}
    context.update(answer=answer, map=_map(answer, rt.city, config), chart=chart)
    return page(request, "inbox/ask.html", context)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(exc)


@router.get("/ask/similar/{ticket_id}", response_class=HTMLResponse)
def similar_panel(request: Request, ticket_id: int, db: SessionDep, rt: RuntimeDep,
                  who: UserDep) -> HTMLResponse:
    """The "show similar" panel, swapped into the page by htmx."""
    try:
        answer = service.similar(db_session=db, user=who.user, ticket_id=ticket_id,
                                 index=index_for(rt.engine), embedder=rt.embedder)
    except NotFound:
        return page(request, "inbox/_similar.html", {"answer": None, "ticket_id": ticket_id},
                    status=404)
    return page(request, "inbox/_similar.html", {"answer": answer, "ticket_id": ticket_id})


"""Open311 GeoReport v2 over the system of record.

Services are the city's categories; a service request is a ticket (its id is the ticket
reference), seen through the event that started its incident. Input problems raise
``InvalidField`` naming the Open311 parameter; unknown ids raise ``NotFound``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from dispatch.cityconfig import Category, CityConfig
from dispatch.errors import InvalidField, NotFound
from dispatch.models import Event, Incident, Ticket
from dispatch.schemas import Contact, EventCreate
from dispatch.services import ticket_for_incident

SOURCE = "open311"
CLOSED_STATUSES = ("resolved", "closed")
DEFAULT_WINDOW = timedelta(days=90)
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
# EventCreate field -> the Open311 parameter a client sent
PARAMETER = {"lon": "long", "address": "address_string", "name": "first_name"}


# ---------------------------------------------------------------- services

def category_for_code(city: CityConfig, service_code: str) -> Category | None:
    return next((c for c in city.categories if c.open311_service_code == service_code), None)


def service(city: CityConfig, category: Category) -> dict[str, Any]:
    agency = city.agency(category.default_agency) if category.default_agency else None
    return {
        "service_code": category.open311_service_code, "service_name": category.name,
        "description": category.description or None, "metadata": False, "type": "realtime",
        "keywords": ",".join(category.keywords) or None,
        "group": agency.name if agency else None,
    }


def services(city: CityConfig) -> list[dict[str, Any]]:
    return [service(city, c) for c in city.categories]


def service_definition(city: CityConfig, service_code: str) -> dict[str, Any]:
    if category_for_code(city, service_code) is None:
        raise NotFound("service_code", service_code)
    return {"service_code": service_code, "attributes": []}


# ---------------------------------------------------------------- POST requests

def _number(form: Mapping[str, str], name: str) -> float | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise InvalidField(name, f"must be a number, got {raw[:40]!r}") from None


def _description(form: Mapping[str, str], category: Category) -> str:
    text = (form.get("description") or "").strip() or f"{category.name} (reported via Open311)"
    extras = [f"{key[len('attribute['):-1]}: {value}" for key, value in form.items()
              if key.startswith("attribute[") and key.endswith("]") and value.strip()]
    media = (form.get("media_url") or "").strip()
    if media:
        if not media.startswith(("http://", "https://")):
            raise InvalidField("media_url", "must be an http(s) URL")
        extras.append(f"media_url: {media}")
    return "\n".join([text, *extras])


def _contact(form: Mapping[str, str]) -> Contact | None:
    name = " ".join(p for p in ((form.get("first_name") or "").strip(),
                                (form.get("last_name") or "").strip()) if p) or None
    fields = {"name": name, "phone": (form.get("phone") or "").strip() or None,
              "email": (form.get("email") or "").strip() or None}
    if not any(fields.values()):
        return None
    return Contact.model_validate(fields)


def event_from_form(*, city: CityConfig, form: Mapping[str, str]) -> EventCreate:
    """A POSTed Open311 request as an event for the common intake."""
    code = (form.get("service_code") or "").strip()
    if not code:
        raise InvalidField("service_code", "service_code is required")
    category = category_for_code(city, code)
    if category is None:
        known = ", ".join(c.open311_service_code for c in city.categories)
        raise InvalidField("service_code", f"unknown service_code {code!r}; known: {known}")
    lat, lon = _number(form, "lat"), _number(form, "long")
    address = (form.get("address_string") or "").strip() or None
    if lat is None and lon is None and address is None:
        raise InvalidField("lat", "a location is required: lat and long, or address_string")
    description = _description(form, category)
    try:
        return EventCreate(source=SOURCE, description=description, category_hint=category.code,
                           lat=lat, lon=lon, address=address, contact=_contact(form))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        raise InvalidField(PARAMETER.get(loc, loc), str(err["msg"])) from None


def request_id_for_token(*, db_session: Session, token: str) -> str | None:
    """The service_request_id (ticket reference) for a token, None while not yet routed."""
    try:
        event_id = uuid.UUID(token)
    except ValueError:
        raise NotFound("token", token) from None
    event = db_session.get(Event, event_id)
    if event is None:
        raise NotFound("token", token)
    ticket = ticket_for_incident(db_session=db_session, incident_id=event.incident_id)
    return ticket.reference if ticket else None


# ---------------------------------------------------------------- GET requests

@dataclass(frozen=True)
class RequestFilter:
    ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: frozenset[str] = frozenset()
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE


def _items(raw: str | None) -> list[str]:
    return [p.strip() for p in (raw or "").split(",") if p.strip()]


def _date(params: Mapping[str, str], name: str) -> datetime | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidField(name, f"not a W3C date-time: {raw[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _int(params: Mapping[str, str], name: str, default: int, high: int) -> int:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise InvalidField(name, f"must be an integer from 1 to {high}")
    return int(raw)


def parse_filter(*, city: CityConfig, params: Mapping[str, str]) -> RequestFilter:
    categories = []
    for code in _items(params.get("service_code")):
        category = category_for_code(city, code)
        if category is None:
            raise InvalidField("service_code", f"unknown service_code {code!r}")
        categories.append(category.code)
    statuses = _items(params.get("status"))
    if any(s not in ("open", "closed") for s in statuses):
        raise InvalidField("status", "must be open, closed, or both comma-separated")
    start, end = _date(params, "start_date"), _date(params, "end_date")
    if start and end and start > end:
        raise InvalidField("start_date", "must not be after end_date")
    return RequestFilter(
        ids=tuple(_items(params.get("service_request_id"))), categories=tuple(categories),
        start=start, end=end, statuses=frozenset(statuses),
        page=_int(params, "page", 1, 1_000_000),
        page_size=_int(params, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE))


def _base() -> Select[Ticket, Event]:
    return (select(Ticket, Event)
            .join(Incident, Incident.id == Ticket.incident_id)
            .join(Event, Event.id == Incident.origin_event_id)
            .options(selectinload(Ticket.history)))


def _windowed(stmt: Select[Ticket, Event], flt: RequestFilter,
              now: datetime) -> Select[Ticket, Event]:
    """The spec's default: without dates, the last 90 days."""
    start, end = flt.start, flt.end
    if start is None and end is None:
        start = now - DEFAULT_WINDOW
    if start is not None:
        stmt = stmt.where(Event.received_at >= start)
    if end is not None:
        stmt = stmt.where(Event.received_at <= end)
    return stmt


def list_requests(*, db_session: Session, city: CityConfig, flt: RequestFilter,
                  now: datetime | None = None) -> list[dict[str, Any]]:
    """Newest first. Given ids, the other filters are ignored (as the spec says)."""
    stmt = _base()
    if flt.ids:
        stmt = stmt.where(Ticket.reference.in_(flt.ids))
    else:
        stmt = _windowed(stmt, flt, now or datetime.now(UTC))
        if flt.categories:
            stmt = stmt.where(Ticket.category.in_(flt.categories))
        if flt.statuses == {"open"}:
            stmt = stmt.where(Ticket.status.not_in(CLOSED_STATUSES))
        elif flt.statuses == {"closed"}:
            stmt = stmt.where(Ticket.status.in_(CLOSED_STATUSES))
    stmt = (stmt.order_by(Event.received_at.desc(), Ticket.id.desc())
            .limit(flt.page_size).offset((flt.page - 1) * flt.page_size))
    return [request(city, row[0], row[1]) for row in db_session.execute(stmt)]


def get_request(*, db_session: Session, city: CityConfig, service_request_id: str) -> dict[str, Any]:
    row = db_session.execute(_base().where(Ticket.reference == service_request_id)).first()
    if row is None:
        raise NotFound("service request", service_request_id)
    return request(city, row[0], row[1])


def request(city: CityConfig, ticket: Ticket, event: Event) -> dict[str, Any]:
    """One ticket as an Open311 service request."""
    category = city.category(ticket.category)
    agency = city.agency(ticket.agency) if ticket.agency else None
    notes = [h.note for h in ticket.history if h.note]
    incident = ticket.incident
    lat = event.lat if event.lat is not None else incident.lat
    lon = event.lon if event.lon is not None else incident.lon
    return {
        "service_request_id": ticket.reference,
        "status": "closed" if ticket.status in CLOSED_STATUSES else "open",
        "status_notes": notes[-1] if notes else None,
        "service_name": category.name if category else ticket.category,
        "service_code": category.open311_service_code if category else ticket.category,
        "description": event.description,
        "agency_responsible": agency.name if agency else None,
        "service_notice": None,
        "requested_datetime": event.received_at.isoformat(),
        "updated_datetime": ticket.updated_at.isoformat(),
        "expected_datetime": ticket.sla_due_at.isoformat(),
        "address": event.address or incident.location_phrase or None,
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": None,
    }

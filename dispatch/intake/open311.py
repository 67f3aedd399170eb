"""Open311 GeoReport v2 over the system of record.

Services are the city's categories; a service request is a ticket (its id is the ticket
reference), seen through the event that started its incident. Input problems raise
``InvalidField`` naming the Open311 parameter; unknown ids raise ``NotFound``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from agents.redaction import redact
from dispatch import i18n
from dispatch.city.config import Agency, Category, CityConfig
from dispatch.core.errors import InvalidField, NotFound
from dispatch.incidents.models import Incident
from dispatch.intake.models import Event
from dispatch.intake.schemas import Contact, EventCreate
from dispatch.intake.service import create_event
from dispatch.tickets import public_updates
from dispatch.tickets.models import Ticket
from dispatch.tickets.service import ticket_for_incident

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


def service(city: CityConfig, category: Category, language: str | None = None) -> dict[str, Any]:
    agency = city.agency(category.default_agency) if category.default_agency else None

    def name(thing: Category | Agency) -> str:
        return i18n.name_in(thing, language, city.city.language) if language else thing.name

    return {
        "service_code": category.open311_service_code, "service_name": name(category),
        "description": category.description or None, "metadata": False, "type": "realtime",
        "keywords": ",".join(category.keywords) or None,
        "group": name(agency) if agency else None,
    }


def services(city: CityConfig, language: str | None = None) -> list[dict[str, Any]]:
    """The city's categories as Open311 services; with ``language``, their names (and the
    agencies' names) in it where the city file has them (``names:``)."""
    return [service(city, c, language) for c in city.categories]


def service_definition(city: CityConfig, service_code: str) -> dict[str, Any]:
    if category_for_code(city, service_code) is None:
        raise NotFound("service_code", service_code)
    return {"service_code": service_code, "attributes": []}


# ---------------------------------------------------------------- POST requests

MAX_MEDIA_URL = 1000
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_CODE = 100
MAX_ATTRIBUTE_VALUE = 2000


@dataclass(frozen=True)
class Submission:
    """A POSTed Open311 request: the event for the common intake, plus what is stored
    beside it on the event (media_url, the ``attribute[code]`` answers)."""

    event: EventCreate
    media_url: str | None
    attributes: dict[str, str] | None


def _clean(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    if value is None:
        return ""
    text = str(value).strip()
    _check_text(name, text)
    return text


def _check_text(name: str, text: str) -> None:
    """PostgreSQL text and JSONB hold no NUL; lone surrogates cannot be encoded at all."""
    if "\x00" in text:
        raise InvalidField(name, "must not contain NUL characters")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise InvalidField(name, "must be valid Unicode text") from None


def _number(form: Mapping[str, Any], name: str) -> float | None:
    value = form.get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        raw = _clean(form, name)
        if not raw:
            return None
        try:
            number = float(raw)
        except ValueError:
            raise InvalidField(name, f"must be a number, got {raw[:40]!r}") from None
    if not math.isfinite(number):
        raise InvalidField(name, "must be a finite number")
    return number


def _media_url(form: Mapping[str, Any]) -> str | None:
    media = _clean(form, "media_url")
    if not media:
        return None
    if not media.startswith(("http://", "https://")) or any(c.isspace() for c in media):
        raise InvalidField("media_url", "must be an http(s) URL")
    if len(media) > MAX_MEDIA_URL:
        raise InvalidField("media_url", f"must be at most {MAX_MEDIA_URL} characters")
    return media


def _attributes(form: Mapping[str, Any]) -> dict[str, str] | None:
    """The ``attribute[code]=value`` fields as {code: value}; empty values are dropped."""
    answers: dict[str, str] = {}
    for key in form:
        if not (key.startswith("attribute[") and key.endswith("]")):
            continue
        code, value = key[len("attribute["):-1].strip(), _clean(form, key)
        _check_text(key, code)
        if not code or not value:
            continue
        if len(code) > MAX_ATTRIBUTE_CODE or len(value) > MAX_ATTRIBUTE_VALUE:
            raise InvalidField(key, f"code at most {MAX_ATTRIBUTE_CODE} and value at most "
                                    f"{MAX_ATTRIBUTE_VALUE} characters")
        answers[code] = value
    if len(answers) > MAX_ATTRIBUTES:
        raise InvalidField("attribute", f"at most {MAX_ATTRIBUTES} attributes")
    return answers or None


def _contact(form: Mapping[str, Any]) -> Contact | None:
    name = " ".join(p for p in (_clean(form, "first_name"), _clean(form, "last_name")) if p) or None
    fields = {"name": name, "phone": _clean(form, "phone") or None,
              "email": _clean(form, "email") or None}
    if not any(fields.values()):
        return None
    return Contact.model_validate(fields)


def submission_from_form(*, city: CityConfig, form: Mapping[str, Any]) -> Submission:
    """A POSTed Open311 request (form field -> str, or float for lat/long) for the intake."""
    code = _clean(form, "service_code")
    if not code:
        raise InvalidField("service_code", "service_code is required")
    category = category_for_code(city, code)
    if category is None:
        known = ", ".join(c.open311_service_code for c in city.categories)
        raise InvalidField("service_code", f"unknown service_code {code[:60]!r}; known: {known}")
    lat, lon = _number(form, "lat"), _number(form, "long")
    address = _clean(form, "address_string") or None
    if lat is None and lon is None and address is None:
        raise InvalidField("lat", "a location is required: lat and long, or address_string")
    description = _clean(form, "description") or f"{category.name} (reported via Open311)"
    media_url, attributes = _media_url(form), _attributes(form)
    try:
        event = EventCreate(source=SOURCE, description=description, category_hint=category.code,
                            lat=lat, lon=lon, address=address, contact=_contact(form))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        raise InvalidField(PARAMETER.get(loc, loc), str(err["msg"])) from None
    return Submission(event=event, media_url=media_url, attributes=attributes)


def event_from_form(*, city: CityConfig, form: Mapping[str, Any]) -> EventCreate:
    """A POSTed Open311 request as an event for the common intake."""
    return submission_from_form(city=city, form=form).event


def store(*, db_session: Session, city: CityConfig, submission: Submission,
          max_image_bytes: int) -> Event:
    """Store the submission through the common intake; the caller owns the transaction."""
    event, _ = create_event(db_session=db_session, city=city, data=submission.event,
                            max_image_bytes=max_image_bytes)
    event.media_url = submission.media_url
    event.attributes = submission.attributes
    db_session.flush()
    return event


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


def _date(params: Mapping[str, str | None], name: str) -> datetime | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidField(name, f"not a W3C date-time: {raw[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _int(params: Mapping[str, str | None], name: str, default: int, high: int) -> int:
    raw = (params.get(name) or "").strip()
    if not raw:
        return default
    ok = raw.isascii() and raw.isdigit() and len(raw) <= 12  # not "²", "1_0", "+1", 10**5000
    number = int(raw) if ok else 0
    if not 1 <= number <= high:
        raise InvalidField(name, f"must be an integer from 1 to {high}")
    return number


def parse_filter(*, city: CityConfig, params: Mapping[str, str | None]) -> RequestFilter:
    for name, value in params.items():
        if value is not None:
            _check_text(name, value)
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
            .join(Event, Event.id == Incident.origin_event_id))


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
    rows = db_session.execute(stmt).all()
    notes = public_updates.latest(db_session=db_session, ticket_ids=[row[0].id for row in rows])
    return [request(city, row[0], row[1], status_notes=notes.get(row[0].id)) for row in rows]


def get_request(*, db_session: Session, city: CityConfig, service_request_id: str) -> dict[str, Any]:
    if "\x00" in service_request_id or len(service_request_id) > 64:
        raise NotFound("service request", service_request_id[:64])
    row = db_session.execute(_base().where(Ticket.reference == service_request_id)).first()
    if row is None:
        raise NotFound("service request", service_request_id)
    notes = public_updates.latest(db_session=db_session, ticket_ids=[row[0].id])
    return request(city, row[0], row[1], status_notes=notes.get(row[0].id))


def request(city: CityConfig, ticket: Ticket, event: Event, *,
            status_notes: str | None = None) -> dict[str, Any]:
    """One ticket as an Open311 service request; ``status_notes`` is its newest public
    update (``public_updates``), never an internal note or a delivery error. Anyone may read
    it: phone numbers, e-mail addresses and ID numbers are redacted (staff see them)."""
    category = city.category(ticket.category)
    agency = city.agency(ticket.agency) if ticket.agency else None
    incident = ticket.incident
    lat = event.lat if event.lat is not None else incident.lat
    lon = event.lon if event.lon is not None else incident.lon
    return {
        "service_request_id": ticket.reference,
        "status": "closed" if ticket.status in CLOSED_STATUSES else "open",
        "status_notes": status_notes,
        "service_name": category.name if category else ticket.category,
        "service_code": category.open311_service_code if category else ticket.category,
        "description": redact(event.description),
        "agency_responsible": agency.name if agency else None,
        "service_notice": None,
        "requested_datetime": event.received_at.isoformat(),
        "updated_datetime": ticket.updated_at.isoformat(),
        "expected_datetime": ticket.sla_due_at.isoformat(),
        "address": redact(event.address or incident.location_phrase or "") or None,
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": event.media_url,
    }

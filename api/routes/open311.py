"""Open311 GeoReport v2: the city's services, and requests that enter the loop as events.

A POSTed request is stored through the same intake as ``POST /api/events`` (source
"open311") and answered with a token (the event id); once the incident is routed, the
token resolves to the service_request_id, which is the ticket reference.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Header, Path, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from api.deps import ConfigDep, RuntimeDep, SessionDep
from api.open311_format import Open311Error, Open311Route, check_format, render
from dispatch import i18n
from dispatch.accounts import apikeys
from dispatch.intake import open311
from dispatch.intake.flows import submit_open311
from dispatch.intake.schemas import MAX_DESCRIPTION

log = logging.getLogger(__name__)
router = APIRouter(prefix="/open311", tags=["open311"], route_class=Open311Route)
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"

# The response format is the path's extension; anything else is a 400 in JSON.
Fmt = Annotated[Literal["json", "xml"], Path(description="Response format")]


async def request_form(
    request: Request,
    api_key: Annotated[str | None, Form(
        max_length=apikeys.MAX_KEY_LENGTH, description="The client's API key (required)")] = None,
    service_code: Annotated[str | None, Form(
        max_length=64, description="A service_code from services.{fmt} (required)")] = None,
    lat: Annotated[float | None, Form(
        ge=-90, le=90,
        description="WGS-84 latitude; lat and long, or address_string, are required")] = None,
    long: Annotated[float | None, Form(ge=-180, le=180, description="WGS-84 longitude")] = None,
    address_string: Annotated[str | None, Form(
        max_length=300, description="A human-readable address")] = None,
    address_id: Annotated[str | None, Form(description="Accepted and ignored")] = None,
    email: Annotated[str | None, Form(
        max_length=254, json_schema_extra={"format": "email"},
        description="The reporter's email")] = None,
    device_id: Annotated[str | None, Form(description="Accepted and ignored")] = None,
    account_id: Annotated[str | None, Form(description="Accepted and ignored")] = None,
    first_name: Annotated[str | None, Form(max_length=59)] = None,
    last_name: Annotated[str | None, Form(max_length=59)] = None,
    phone: Annotated[str | None, Form(pattern=r"^[0-9 +().-]{3,40}$")] = None,
    description: Annotated[str | None, Form(
        max_length=MAX_DESCRIPTION, description="What is wrong, in free text")] = None,
    media_url: Annotated[str | None, Form(
        max_length=open311.MAX_MEDIA_URL, pattern=r"^https?://\S+$",
        description="An http(s) URL of a photo of the problem")] = None,
) -> dict[str, Any]:
    """The declared form fields (so the OpenAPI document lists them), plus the spec's
    ``attribute[code]`` fields, which the document cannot name; file parts are ignored."""
    fields: dict[str, Any] = {
        "api_key": api_key, "service_code": service_code, "lat": lat, "long": long,
        "address_string": address_string, "email": email, "first_name": first_name,
        "last_name": last_name, "phone": phone, "description": description,
        "media_url": media_url}
    form = await request.form()  # parsed once already by FastAPI; this is the cached copy
    for key, value in form.multi_items():
        if key.startswith("attribute[") and not isinstance(value, UploadFile):
            fields[key] = value
    return fields


FormDep = Annotated[dict[str, Any], Depends(request_form)]


@router.get("/discovery.{fmt}")
def discovery(fmt: Fmt, config: ConfigDep) -> Response:
    out = check_format(fmt)
    body = {
        "changeset": "2026-01-01T00:00:00Z", "contact": None, "key_service": None,
        "endpoints": [{
            "specification": SPECIFICATION, "url": f"{config.public_url.rstrip('/')}/open311/v2",
            "changeset": "2026-01-01T00:00:00Z", "type": "production",
            "formats": ["application/json", "text/xml"],
        }],
    }
    return render(out, body, root="discovery")


@router.get("/v2/services.{fmt}")
def list_services(
    fmt: Fmt, rt: RuntimeDep,
    locale: Annotated[str | None, Query(
        max_length=35, pattern=r"^[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*$",
        description="The language of the service names (en, zh, zh_CN); else Accept-Language, "
                    "else the city's own names")] = None,
    accept_language: Annotated[str | None, Header(max_length=500)] = None,
) -> Response:
    language = i18n.supported(locale) or i18n.from_accept_language(accept_language)
    return render(check_format(fmt), open311.services(rt.city, language), root="services",
                  item="service")


@router.get("/v2/services/{service_code}.{fmt}")
def service_definition(service_code: str, fmt: Fmt, rt: RuntimeDep) -> Response:
    out = check_format(fmt)
    body = open311.service_definition(rt.city, service_code)
    return render(out, body, root="service_definition")


@router.post("/v2/requests.{fmt}")
def post_request(fmt: Fmt, form: FormDep, db: SessionDep, rt: RuntimeDep,
                 config: ConfigDep) -> Response:
    out = check_format(fmt)
    with db.begin():
        key = apikeys.verify(db_session=db, key=form["api_key"])
        if key is None:
            raise Open311Error(403, "api_key is missing, invalid or revoked")
        allowed, retry_s = apikeys.consume(db_session=db, key_id=key.id)
        limit = key.rate_limit_per_minute
    if not allowed:
        raise Open311Error(
            429, f"rate limit of {limit} requests per minute exceeded; retry in {retry_s} s",
            headers={"Retry-After": str(retry_s)})
    submission = open311.submission_from_form(city=rt.city, form=form)
    event = submit_open311(db_session=db, city=rt.city, submission=submission,
                           max_image_bytes=config.max_image_bytes)
    body: list[dict[str, Any]] = [
        {"token": str(event.id), "service_notice": None, "account_id": None}]
    return render(out, body, root="service_requests", item="request")


@router.get("/v2/tokens/{token}.{fmt}")
def token(token: str, fmt: Fmt, db: SessionDep) -> Response:
    out = check_format(fmt)
    request_id = open311.request_id_for_token(db_session=db, token=token)
    body = [{"service_request_id": request_id, "token": token}]
    return render(out, body, root="service_requests", item="request")


@router.get("/v2/requests.{fmt}")
def list_requests(
    fmt: Fmt, db: SessionDep, rt: RuntimeDep,
    service_request_id: Annotated[str | None, Query(
        description="Comma-separated ids; when given, the other filters are ignored")] = None,
    service_code: Annotated[str | None, Query(
        description="Comma-separated service codes")] = None,
    start_date: Annotated[str | None, Query(
        description="W3C date-time; without dates, the last 90 days")] = None,
    end_date: Annotated[str | None, Query(description="W3C date-time")] = None,
    status: Annotated[str | None, Query(description="open, closed, or open,closed")] = None,
    page: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    page_size: Annotated[int | None, Query(ge=1, le=open311.MAX_PAGE_SIZE)] = None,
) -> Response:
    out = check_format(fmt)
    params = {"service_request_id": service_request_id, "service_code": service_code,
              "start_date": start_date, "end_date": end_date, "status": status,
              "page": None if page is None else str(page),
              "page_size": None if page_size is None else str(page_size)}
    flt = open311.parse_filter(city=rt.city, params=params)
    rows = open311.list_requests(db_session=db, city=rt.city, flt=flt)
    return render(out, rows, root="service_requests", item="request")


@router.get("/v2/requests/{service_request_id}.{fmt}")
def get_request(service_request_id: str, fmt: Fmt, db: SessionDep, rt: RuntimeDep) -> Response:
    out = check_format(fmt)
    row = open311.get_request(db_session=db, city=rt.city, service_request_id=service_request_id)
    return render(out, [row], root="service_requests", item="request")

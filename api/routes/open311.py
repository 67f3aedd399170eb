"""Open311 GeoReport v2: the city's services, and requests that enter the loop as events.

A POSTed request is stored through the same intake as ``POST /api/events`` (source
"open311") and answered with a token (the event id); once the incident is routed, the
token resolves to the service_request_id, which is the ticket reference.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from kombu.exceptions import OperationalError as BrokerError
from starlette.datastructures import UploadFile
from starlette.responses import Response

from api.deps import ConfigDep, RuntimeDep, SessionDep
from api.open311_format import Open311Error, Open311Route, check_format, render
from dispatch import apikeys, open311, services
from dispatch.tasks import enqueue_understand

log = logging.getLogger(__name__)
router = APIRouter(prefix="/open311", tags=["open311"], route_class=Open311Route)
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"


async def form_fields(request: Request) -> dict[str, str]:
    """The form-encoded body as plain strings (file parts are ignored)."""
    form = await request.form()
    return {key: value for key, value in form.multi_items() if not isinstance(value, UploadFile)}


FormDep = Annotated[dict[str, str], Depends(form_fields)]


@router.get("/discovery.{fmt}")
def discovery(fmt: str, config: ConfigDep) -> Response:
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
def list_services(fmt: str, rt: RuntimeDep) -> Response:
    return render(check_format(fmt), open311.services(rt.city), root="services", item="service")


@router.get("/v2/services/{service_code}.{fmt}")
def service_definition(service_code: str, fmt: str, rt: RuntimeDep) -> Response:
    out = check_format(fmt)
    body = open311.service_definition(rt.city, service_code)
    return render(out, body, root="service_definition")


@router.post("/v2/requests.{fmt}")
def post_request(fmt: str, form: FormDep, db: SessionDep, rt: RuntimeDep,
                 config: ConfigDep) -> Response:
    out = check_format(fmt)
    with db.begin():
        key = apikeys.verify(db_session=db, key=form.get("api_key"))
        if key is None:
            raise Open311Error(403, "api_key is missing, invalid or revoked")
        allowed, retry_s = apikeys.consume(db_session=db, key_id=key.id)
        limit = key.rate_limit_per_minute
    if not allowed:
        raise Open311Error(
            429, f"rate limit of {limit} requests per minute exceeded; retry in {retry_s} s",
            headers={"Retry-After": str(retry_s)})
    data = open311.event_from_form(city=rt.city, form=form)
    with db.begin():
        event, _ = services.create_event(db_session=db, city=rt.city, data=data,
                                         max_image_bytes=config.max_image_bytes)
    try:
        enqueue_understand(event.id)  # after commit; if the broker is down the sweeper retries
    except (BrokerError, OSError) as exc:
        log.warning("open311 event %s stored; enqueue deferred to the sweeper: %s", event.id, exc)
    body: list[dict[str, Any]] = [
        {"token": str(event.id), "service_notice": None, "account_id": None}]
    return render(out, body, root="service_requests", item="request")


@router.get("/v2/tokens/{token}.{fmt}")
def token(token: str, fmt: str, db: SessionDep) -> Response:
    out = check_format(fmt)
    request_id = open311.request_id_for_token(db_session=db, token=token)
    body = [{"service_request_id": request_id, "token": token}]
    return render(out, body, root="service_requests", item="request")


@router.get("/v2/requests.{fmt}")
def list_requests(fmt: str, request: Request, db: SessionDep, rt: RuntimeDep) -> Response:
    out = check_format(fmt)
    flt = open311.parse_filter(city=rt.city, params=request.query_params)
    rows = open311.list_requests(db_session=db, city=rt.city, flt=flt)
    return render(out, rows, root="service_requests", item="request")


@router.get("/v2/requests/{service_request_id}.{fmt}")
def get_request(service_request_id: str, fmt: str, db: SessionDep, rt: RuntimeDep) -> Response:
    out = check_format(fmt)
    row = open311.get_request(db_session=db, city=rt.city, service_request_id=service_request_id)
    return render(out, [row], root="service_requests", item="request")

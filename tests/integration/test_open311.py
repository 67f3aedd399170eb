"""Open311 GeoReport v2: services from the city config, requests POSTed form-encoded with an
API key enter the loop as events, and read back as the ticket they became, in JSON or XML
shaped like the spec's schemas and fixtures; errors are the spec's {code, description} list."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.config import ApiConfig
from dispatch.accounts import apikeys
from dispatch.accounts.models import ApiKey
from dispatch.core.db import transaction
from dispatch.core.runtime import get_runtime
from dispatch.incidents import flows as incident_flows
from dispatch.intake.models import Event
from dispatch.tickets import collab
from dispatch.tickets import flows as ticket_flows
from dispatch.tickets import service as ticket_service
from dispatch.tickets.actions import apply_action
from dispatch.tickets.models import Ticket
from dispatch.tickets.schemas import ActionRequest
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.webauth import login

OPEN311 = Path("/work/shared/data/open311")
SCHEMAS = OPEN311 / "schema" / "georeport-v2"
FIXTURES = OPEN311 / "fixtures"
pytestmark = pytest.mark.skipif(
    not SCHEMAS.is_dir() or not FIXTURES.is_dir(),
    reason=f"the Open311 schemas and fixtures are not present under {OPEN311}")

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the test extra")
referencing = pytest.importorskip("referencing")

V2 = "/open311/v2"
TREE = "RT-001"  # fallen_tree -> landscaping by rule, in north_bank
POTHOLE = "RT-005"
LANDSCAPING = "Bureau of Landscaping & Afforestation"


@pytest.fixture()
def client(migrated_db: str, broker_url: str, clean_state: None) -> Iterator[TestClient]:
    config = ApiConfig(dispatch=make_dispatch_config(migrated_db, broker_url, DOWN_LLM),
                       max_image_bytes=50_000)
    with TestClient(create_app(config)) as test_client:
        login(test_client, "tester")
        yield test_client


def new_key(name: str = "fixit-app", rate_limit_per_minute: int = 60) -> str:
    with get_runtime().factory() as db, db.begin():
        return apikeys.add(db_session=db, name=name, rate_limit_per_minute=rate_limit_per_minute)


@pytest.fixture()
def api_key(client: TestClient) -> str:
    return new_key()


def validator(name: str) -> Any:
    from referencing.jsonschema import DRAFT7

    resources = [(p.name, referencing.Resource.from_contents(
        json.loads(p.read_text()), default_specification=DRAFT7)) for p in SCHEMAS.glob("*.json")]
    registry = referencing.Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / name).read_text())
    return jsonschema.Draft7Validator(schema, registry=registry,
                                      format_checker=jsonschema.FormatChecker())


def assert_valid(name: str, body: Any) -> None:
    errors = [e.message for e in validator(name).iter_errors(body)]
    assert not errors, errors


def tags(element: ET.Element) -> list[str]:
    return [child.tag for child in element]


def fixture_xml(name: str) -> ET.Element:
    return ET.fromstring(FIXTURES.joinpath(name).read_bytes())


def form(api_key: str | None, **fields: str) -> dict[str, str]:
    body = {"service_code": TREE, "lat": "41.62", "long": "-93.65",
            "description": "A big branch fell across the sidewalk on Mill Street",
            "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com", **fields}
    if api_key is not None:
        body["api_key"] = api_key
    return {k: v for k, v in body.items() if v}


def post(client: TestClient, api_key: str | None, fmt: str = "json", **fields: str) -> Any:
    return client.post(f"{V2}/requests.{fmt}", data=form(api_key, **fields))


def open311_errors(response: Any, status: int, fmt: str = "json") -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    if fmt == "json":
        assert response.headers["content-type"].startswith("application/json")
        items = response.json()
    else:
        assert response.headers["content-type"].startswith("application/xml")
        root = ET.fromstring(response.content)
        assert root.tag == "errors"
        items = [{"code": int(e.findtext("code") or 0), "description": e.findtext("description")}
                 for e in root]
        assert all(tags(e) == ["code", "description"] for e in root)
    assert isinstance(items, list) and items
    for item in items:
        assert item["code"] == status
        assert isinstance(item["description"], str) and item["description"]
    return items


def route(token: str) -> None:
    """What the understand and route workers do, in-process."""
    rt = get_runtime()
    incident_id = incident_flows.understand_event(factory=rt.factory, city=rt.city, chat=None,
                                         event_id=uuid.UUID(token))
    assert incident_id is not None
    assert ticket_flows.route_incident(factory=rt.factory, city=rt.city, chat=None,
                                incident_id=incident_id) is not None


def act(request_id: str, action: str, note: str | None = None) -> None:
    """A crew's lifecycle action, in-process: /api/tickets needs a signed-in user now."""
    rt = get_runtime()
    with rt.factory() as db, db.begin():
        ticket_id = db.scalar(select(Ticket.id).where(Ticket.reference == request_id))
        assert ticket_id is not None
        apply_action(db_session=db, city=rt.city, ticket_id=ticket_id, action=action,  # type: ignore[arg-type]
                     request=ActionRequest(actor="crew:ann", note=note))


def submit(client: TestClient, api_key: str, **fields: str) -> str:
    """POST a request, route it, return its service_request_id."""
    response = post(client, api_key, **fields)
    assert response.status_code == 200, response.text
    token = response.json()[0]["token"]
    route(token)
    request_id = client.get(f"{V2}/tokens/{token}.json").json()[0]["service_request_id"]
    assert isinstance(request_id, str)
    return request_id


# ---------------------------------------------------------------- services

def test_services_come_from_the_city_config(client: TestClient) -> None:
    response = client.get(f"{V2}/services.json")
    assert response.status_code == 200
    body = response.json()
    assert_valid("services.json", body)
    codes = [s["service_code"] for s in body]
    city = get_runtime().city
    assert codes == [c.open311_service_code for c in city.categories]
    tree = body[codes.index(TREE)]
    assert tree["service_name"] == "Fallen tree"
    assert tree["group"] == LANDSCAPING

    xml = client.get(f"{V2}/services.xml")
    assert xml.headers["content-type"].startswith("application/xml")
    root, expected = ET.fromstring(xml.content), fixture_xml("services.xml")
    assert root.tag == expected.tag == "services"
    assert {c.tag for c in root} == {c.tag for c in expected} == {"service"}
    assert set(tags(root[0])) == set(tags(expected[0]))
    assert [s.findtext("service_code") for s in root] == codes
    assert root[0].findtext("group") == LANDSCAPING  # "&" escaped and read back


def test_service_definition_and_unknown_service(client: TestClient) -> None:
    body = client.get(f"{V2}/services/{TREE}.json").json()
    assert_valid("service-definition.json", body)
    assert body == {"service_code": TREE, "attributes": []}
    root = ET.fromstring(client.get(f"{V2}/services/{TREE}.xml").content)
    assert root.tag == fixture_xml("service_definition.xml").tag
    assert root.findtext("service_code") == TREE
    open311_errors(client.get(f"{V2}/services/NOPE.json"), 404)
    open311_errors(client.get(f"{V2}/services/NOPE.xml"), 404, "xml")


def test_discovery_names_the_v2_endpoint(client: TestClient) -> None:
    body = client.get("/open311/discovery.json").json()
    endpoint = body["endpoints"][0]
    assert endpoint["url"].endswith("/open311/v2")
    assert "application/json" in endpoint["formats"]
    root = ET.fromstring(client.get("/open311/discovery.xml").content)
    assert root.find("endpoints/endpoint/formats/format") is not None


# ---------------------------------------------------------------- POST and errors

def test_post_needs_a_valid_api_key(client: TestClient, api_key: str) -> None:
    open311_errors(post(client, None), 403)
    open311_errors(post(client, "cl_not-a-key", "xml"), 403, "xml")
    with get_runtime().factory() as db, db.begin():
        apikeys.revoke(db_session=db, name_or_id="fixit-app")
    open311_errors(post(client, api_key), 403)
    with get_runtime().factory() as db:
        assert db.scalar(select(Event)) is None


def test_post_without_service_code_is_400(client: TestClient, api_key: str) -> None:
    items = open311_errors(post(client, api_key, service_code=""), 400)
    assert "service_code" in items[0]["description"]
    open311_errors(post(client, api_key, "xml", service_code=""), 400, "xml")
    items = open311_errors(post(client, api_key, lat="", long="", address_string=""), 400)
    assert "location" in items[0]["description"]
    items = open311_errors(post(client, api_key, lat="91"), 400)
    assert items[0]["description"].startswith("lat:")
    items = open311_errors(post(client, api_key, "xml", lat="north"), 400, "xml")
    assert items[0]["description"].startswith("lat:")
    items = open311_errors(post(client, api_key, media_url="ftp://example.com/a.jpg"), 400)
    assert items[0]["description"].startswith("media_url:")
    items = open311_errors(post(client, api_key, description="nul\x00byte"), 400)
    assert items[0]["description"].startswith("description:")
    open311_errors(client.get(f"{V2}/services.yaml"), 400)


def test_unknown_request_is_404_in_both_formats(client: TestClient) -> None:
    items = open311_errors(client.get(f"{V2}/requests/2026-99999.json"), 404)
    assert "2026-99999" in items[0]["description"]
    open311_errors(client.get(f"{V2}/requests/not-an-id.xml"), 404, "xml")
    open311_errors(client.get(f"{V2}/tokens/{uuid.uuid4()}.json"), 404)
    open311_errors(client.get(f"{V2}/tokens/not-a-token.xml"), 404, "xml")


def test_rate_limit_per_key(client: TestClient) -> None:
    key = new_key("tight", rate_limit_per_minute=1)
    # three POSTs span at most one minute boundary, so two share a window: one is refused
    statuses = [post(client, key).status_code for _ in range(3)]
    assert statuses[0] == 200
    assert 429 in statuses
    refused = post(client, key)
    if refused.status_code == 429:
        open311_errors(refused, 429)
        assert int(refused.headers["retry-after"]) in range(1, 61)
    assert post(client, new_key("roomy")).status_code == 200  # the limit is per key


def test_rate_limit_window_resets_each_minute(client: TestClient) -> None:
    key = new_key("windowed", rate_limit_per_minute=2)
    minute = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    with get_runtime().factory() as db, db.begin():
        key_id = db.scalar(select(ApiKey.id).where(ApiKey.name == "windowed"))
        assert key_id is not None
        calls = [apikeys.consume(db_session=db, key_id=key_id, now=minute + timedelta(seconds=s))
                 for s in (1, 20, 59, 60, 61)]
    assert [allowed for allowed, _ in calls] == [True, True, False, True, True]
    assert calls[2][1] == 1
    assert key.startswith(apikeys.KEY_PREFIX)


# ---------------------------------------------------------------- a request's life

def test_a_request_becomes_a_ticket_and_closes(client: TestClient, api_key: str) -> None:
    photo = "https://photos.example.com/mill-street/branch.jpg?size=large&v=2"
    response = post(client, api_key, media_url=photo,
                    **{"attribute[size]": "large", "attribute[blocking]": "sidewalk",
                       "attribute[empty]": " "})
    assert response.status_code == 200, response.text
    token = response.json()[0]["token"]
    with get_runtime().factory() as db:
        event = db.get(Event, uuid.UUID(token))
        assert event is not None and event.source == "open311"
        assert event.category_hint == "fallen_tree"
        assert event.contact == {"name": "Ann Lee", "phone": None, "email": "ann@example.com"}
        assert event.description == "A big branch fell across the sidewalk on Mill Street"
        assert event.media_url == photo
        assert event.attributes == {"size": "large", "blocking": "sidewalk"}
    pending = client.get(f"{V2}/tokens/{token}.json").json()
    assert pending == [{"service_request_id": None, "token": token}]

    route(token)
    answer = client.get(f"{V2}/tokens/{token}.xml")
    request_id = ET.fromstring(answer.content).findtext("request/service_request_id")
    assert request_id and request_id.endswith("-00001")
    assert tags(ET.fromstring(answer.content)[0]) == tags(
        fixture_xml("request_id_from_token.xml")[0])

    body = client.get(f"{V2}/requests/{request_id}.json").json()
    assert_valid("requests.json", body)
    request = body[0]
    assert request["service_request_id"] == request_id
    assert request["status"] == "open"
    assert request["agency_responsible"] == LANDSCAPING
    assert request["service_code"] == TREE
    assert request["lat"] == 41.62 and request["long"] == -93.65
    assert request["media_url"] == photo
    assert request["description"] == "A big branch fell across the sidewalk on Mill Street"
    xml_root = ET.fromstring(client.get(f"{V2}/requests/{request_id}.xml").content)
    expected = fixture_xml("get_service_request.xml")
    assert xml_root.tag == expected.tag
    assert tags(xml_root[0]) == tags(expected[0])
    assert xml_root.findtext("request/agency_responsible") == LANDSCAPING
    assert xml_root.findtext("request/media_url") == photo  # "&" escaped and read back

    for action, note in (("acknowledge", "crew on the way"), ("resolve", "branch removed")):
        act(request_id, action, note)
    closed = client.get(f"{V2}/requests/{request_id}.json").json()[0]
    assert closed["status"] == "closed"
    assert closed["status_notes"] == "branch removed"
    # later history that is not for the public never becomes the status note
    with transaction(get_runtime().factory) as db:
        ticket = db.scalar(select(Ticket).where(Ticket.reference == request_id))
        assert ticket is not None
        collab.add_comment(db_session=db, ticket=ticket, author="sam", internal=True,
                           body="INTERNAL: crew overtime code 77")
        ticket_service.record(db_session=db, ticket=ticket, actor="system:delivery", action="delivery_failed",
                        from_status=ticket.status, note="webhook failed: HTTP 503 from 10.0.0.7")
        ticket_service.record(db_session=db, ticket=ticket, actor="system:recheck", action="reopen",
                        from_status=ticket.status, note="camera cam-7 zone depot: still present")
    assert client.get(f"{V2}/requests/{request_id}.json").json()[0]["status_notes"] == "branch removed"
    with transaction(get_runtime().factory) as db:
        ticket = db.scalar(select(Ticket).where(Ticket.reference == request_id))
        assert ticket is not None
        collab.add_comment(db_session=db, ticket=ticket, author="sam", internal=False,
                           body="The stump will be ground next week.")
    listed = client.get(f"{V2}/requests.json", params={"service_request_id": request_id}).json()
    assert listed[0]["status_notes"] == "The stump will be ground next week."
    assert closed["updated_datetime"] >= request["updated_datetime"]


def test_requests_list_filters(client: TestClient, api_key: str) -> None:
    tree = submit(client, api_key)
    hole = submit(client, api_key, service_code=POTHOLE,
                  description="A deep pothole on Mill Street swallows bike wheels")
    for action in ("acknowledge", "resolve"):
        act(tree, action)

    def ids(**params: str) -> list[str]:
        response = client.get(f"{V2}/requests.json", params=params)
        assert response.status_code == 200, response.text
        assert_valid("requests.json", response.json())
        return [r["service_request_id"] for r in response.json()]

    assert sorted(ids()) == sorted([tree, hole])
    assert ids(service_code=POTHOLE) == [hole]
    assert ids(status="closed") == [tree]
    assert ids(status="open") == [hole]
    assert ids(service_code=TREE, status="open") == []
    assert ids(service_request_id=f"{tree},2026-99999") == [tree]
    assert ids(page_size="1", page="2") == [tree]  # newest first
    old = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    assert ids(end_date=old) == []
    empty = ET.fromstring(client.get(f"{V2}/requests.xml", params={"end_date": old}).content)
    assert empty.tag == fixture_xml("service_requests_empty.xml").tag and len(empty) == 0
    open311_errors(client.get(f"{V2}/requests.json", params={"status": "pending"}), 400)
    open311_errors(client.get(f"{V2}/requests.xml", params={"start_date": "soon"}), 400, "xml")
    open311_errors(client.get(f"{V2}/requests.json", params={"page_size": "0"}), 400)
    open311_errors(client.get(f"{V2}/requests.json", params={"page": "²"}), 400)

"""Property-based: schemathesis drives every Open311 operation of CityLoop's own OpenAPI
document against the real app and database; no input may produce a server error (5xx).

POST requests.{fmt} gets a valid API key (with room under its rate limit), so the
generated forms reach the intake rather than stopping at the key check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.app import create_app
from api.config import ApiConfig
from dispatch import apikeys
from dispatch.runtime import get_runtime
from tests.conftest import DOWN_LLM, make_dispatch_config

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the test extra")
from hypothesis import HealthCheck, settings  # noqa: E402  (hypothesis comes with schemathesis)
from schemathesis.checks import not_a_server_error  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture()
def open311_app(migrated_db: str, broker_url: str, clean_state: None) -> Iterator[Any]:
    engine = create_engine(migrated_db)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE api_keys RESTART IDENTITY"))
    engine.dispose()
    config = ApiConfig(dispatch=make_dispatch_config(migrated_db, broker_url, DOWN_LLM),
                       max_image_bytes=50_000)
    app = create_app(config)
    with TestClient(app):  # runs the lifespan: the runtime and Celery are configured
        yield app


@pytest.fixture()
def open311_key(open311_app: Any) -> str:
    with get_runtime().factory() as db, db.begin():
        return apikeys.add(db_session=db, name="schemathesis", rate_limit_per_minute=100_000)


@pytest.fixture()
def open311_schema(open311_app: Any) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", open311_app)
    return schema.include(path_regex=r"^/open311/")


def test_the_schema_describes_the_open311_parameters(open311_app: Any) -> None:
    document = TestClient(open311_app).get("/openapi.json").json()
    paths = {p: ops for p, ops in document["paths"].items() if p.startswith("/open311/")}
    assert set(paths) >= {
        "/open311/discovery.{fmt}", "/open311/v2/services.{fmt}",
        "/open311/v2/services/{service_code}.{fmt}", "/open311/v2/requests.{fmt}",
        "/open311/v2/requests/{service_request_id}.{fmt}", "/open311/v2/tokens/{token}.{fmt}"}
    listing = {p["name"]: p for p in paths["/open311/v2/requests.{fmt}"]["get"]["parameters"]}
    assert set(listing) >= {"fmt", "service_request_id", "service_code", "start_date",
                            "end_date", "status", "page", "page_size"}
    fmt_schema = listing["fmt"]["schema"]
    assert fmt_schema.get("enum") == ["json", "xml"] or fmt_schema.get("const") in ("json", "xml")
    body = paths["/open311/v2/requests.{fmt}"]["post"]["requestBody"]["content"]
    form = body["application/x-www-form-urlencoded"]["schema"]
    if "$ref" in form:
        form = document["components"]["schemas"][form["$ref"].rsplit("/", 1)[1]]
    assert set(form["properties"]) >= {
        "api_key", "service_code", "lat", "long", "address_string", "email", "first_name",
        "last_name", "phone", "description", "media_url"}


schema = schemathesis.pytest.from_fixture("open311_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_open311_never_answers_5xx(case: Any, open311_key: str) -> None:
    if case.method.upper() == "POST" and isinstance(case.body, dict):
        case.body = {**case.body, "api_key": open311_key}
    case.call_and_validate(checks=[not_a_server_error])

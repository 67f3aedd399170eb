"""Fixtures of the web tests (access, collaboration, dashboard): an app, a signed-in client
of each role, and three tickets (own agency, another agency, triage) with an attachment each."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.pages import attach, only_attachment, png
from tests.helpers.tickets import make_ticket, reroute
from tests.helpers.webauth import ROLES, login


@pytest.fixture()
def app_config(migrated_db: str, broker_url: str, clean_state: None) -> ApiConfig:
    return ApiConfig(dispatch=make_dispatch_config(migrated_db, broker_url, DOWN_LLM),
                     max_image_bytes=50_000)


@pytest.fixture()
def clients(app_config: ApiConfig) -> Iterator[dict[str, TestClient]]:
    app = create_app(app_config)
    with TestClient(app) as anon:
        out = {"anon": anon}
        for name, (role, agency) in ROLES.items():
            client = TestClient(app)
            login(client, f"matrix-{name}", role, agency)
            out[name] = client
        yield out


@pytest.fixture()
def tickets(clients: dict[str, TestClient]) -> dict[str, int]:
    anon = clients["anon"]
    own = make_ticket(anon, "A big branch fell across the sidewalk on Mill Street",
                      image_base64=base64.b64encode(png()).decode())
    other = make_ticket(anon, "Garbage bags dumped on the sidewalk of Mill Street",
                        category_hint="exposed_garbage", lat=41.61, lon=-93.64)
    # far enough from the first tree not to be merged into its incident as a duplicate
    triage = make_ticket(anon, "An old oak fell onto a parked car by the river",
                         lat=41.63, lon=-93.66)
    dispatcher = clients["dispatcher"]
    rejected = dispatcher.post(f"/api/tickets/{triage}/reject", json={"actor": "x", "reason": "r"})
    assert rejected.status_code == 200, rejected.text
    reroute(triage)
    assert dispatcher.get(f"/api/tickets/{triage}").json()["status"] == "triage"
    assert len({own, other, triage}) == 3
    for ticket_id in (own, other):
        assert attach(dispatcher, ticket_id).status_code == 303
    return {"own": own, "other": other, "triage": triage,
            "own_file": only_attachment(dispatcher, own),
            "other_file": only_attachment(dispatcher, other)}

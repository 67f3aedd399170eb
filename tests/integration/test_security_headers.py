"""Security headers on every page, no inline script anywhere, and invisible characters in
citizens' text shown to staff (issue 16)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.pages import assert_only_vendored_scripts
from tests.helpers.tickets import make_ticket
from tests.helpers.webauth import login

RLO, ZWSP = "\u202e", "\u200b"


@pytest.fixture()
def app_config(migrated_db: str, broker_url: str, clean_state: None) -> ApiConfig:
    return ApiConfig(dispatch=make_dispatch_config(migrated_db, broker_url, DOWN_LLM),
                     map_tile_url="https://{s}.tiles.example/{z}/{x}/{y}.png")


@pytest.fixture()
def client(app_config: ApiConfig) -> Iterator[TestClient]:
    with TestClient(create_app(app_config)) as test_client:
        login(test_client, "disa", "dispatcher")
        yield test_client


def pages(client: TestClient) -> dict[str, str]:
    ticket_id = make_ticket(client, "A large tree fell on Mill Street")
    return {"start": "/", "hotline": "/hotline", "inbox": "/inbox", "ticket": f"/tickets/{ticket_id}",
            "dashboard": "/dashboard", "dead letters": "/dead-letters",
            "new rows": "/inbox/new", "json": "/api/tickets", "open311": "/open311/v2/services.json",
            "static": "/static/inbox.css", "not found": "/tickets/424242",
            "refused": "/api/tickets/99999999999999999999999"}


def test_every_page_sends_the_security_headers(client: TestClient) -> None:
    for name, path in pages(client).items():
        response = client.get(path)
        assert response.status_code < 500, (name, response.text)
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self';" in policy, (name, policy)
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, name
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, name
        assert response.headers["x-frame-options"] == "DENY", name
        assert response.headers["referrer-policy"] == "same-origin", name
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert "strict-transport-security" not in response.headers, name  # plain http
    tiles = client.get("/inbox").headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://*.tiles.example;" in tiles


def test_the_login_page_and_a_refusal_carry_them_too(app_config: ApiConfig) -> None:
    with TestClient(create_app(app_config)) as anonymous:
        for path in ("/login", "/inbox"):
            response = anonymous.get(path, follow_redirects=False)
            assert response.headers["x-frame-options"] == "DENY", path
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path


def test_hsts_only_over_https(app_config: ApiConfig) -> None:
    with TestClient(create_app(app_config), base_url="https://testserver") as secure:
        assert secure.get("/login").headers["strict-transport-security"].startswith("max-age=")


def test_the_api_docs_allow_exactly_their_own_inline_scripts(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    scripts = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert scripts
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy


def test_no_page_runs_inline_script_or_inline_handlers(client: TestClient) -> None:
    for name, path in pages(client).items():
        response = client.get(path)
        if not response.headers["content-type"].startswith("text/html"):
            continue
        html = response.text
        if "<script" in html:
            assert_only_vendored_scripts(html)
        assert not re.search(r"\son[a-z]+\s*=", html), name
        assert "<style" not in html and " style=" not in html, name
        assert "javascript:" not in html, name


def test_bidi_and_zero_width_characters_are_shown_to_staff(client: TestClient) -> None:
    spoof = f"Tree down at Mill {RLO}teertS{ZWSP} near the school"
    ticket_id = make_ticket(client, spoof)
    page = client.get(f"/tickets/{ticket_id}").text
    assert "Mill ⟦U+202E⟧teertS⟦U+200B⟧ near" in page
    assert RLO not in page and ZWSP not in page
    comment = f"call back{ZWSP} {RLO}tomorrow"
    assert client.post(f"/tickets/{ticket_id}/comments", data={"note": comment},
                       follow_redirects=False).status_code == 303
    page = client.get(f"/tickets/{ticket_id}").text
    assert "call back⟦U+200B⟧ ⟦U+202E⟧tomorrow" in page
    inbox = client.get("/inbox").text  # the incident's text there: shown or cleaned, never raw
    assert RLO not in inbox and ZWSP not in inbox

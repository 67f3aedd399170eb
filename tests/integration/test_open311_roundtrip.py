"""Round trip with an independent client: the real app under uvicorn (``cityloop api``) and a
real worker, spoken to with nothing but the standard library (urllib, xml.etree), as an
Open311 client elsewhere would.

POST a request form-encoded with an API key -> token; the worker routes it and the token
resolves to a service_request_id; the request reads back open with its agency; a crew works
the ticket and the request reads back closed, with the crew's note, in XML.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dispatch.accounts import apikeys
from dispatch.city.config import load_city
from dispatch.core.db import make_engine, make_session_factory
from dispatch.tickets.actions import apply_action
from dispatch.tickets.models import Ticket
from dispatch.tickets.schemas import ActionRequest
from tests.helpers.config import DOWN_LLM, ROOT, SAMPLE_CITY, child_env, make_dispatch_config
from tests.helpers.db import truncate_all

pytestmark = pytest.mark.slow

TREE = "RT-001"  # fallen_tree -> landscaping by rule
LANDSCAPING = "Bureau of Landscaping & Afforestation"


class Http:
    """urllib only: form-encoded POSTs, JSON or raw bytes back, errors as (status, body)."""

    def __init__(self, base: str, log_path: Path | None = None) -> None:
        self.base = base
        self.log_path = log_path

    def log(self) -> str:
        exists = self.log_path is not None and self.log_path.exists()
        return self.log_path.read_text(errors="replace") if exists else ""  # type: ignore[union-attr]

    def call(self, method: str, path: str, *, form: dict[str, str] | None = None,
             json_body: Any = None) -> tuple[int, bytes]:
        data, headers = None, {"Accept": "*/*"}
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        status, body = self.call(method, path, **kwargs)
        assert status == 200, (status, body[:500])
        return json.loads(body)


@pytest.fixture()
def private_broker(tmp_path: Path) -> Iterator[str]:
    """A broker of this test's own: the shared one (redis db 11) may be drained by the
    workers of other test sessions, which would take this test's tasks and drop them."""
    from cityloop.localservices import RedisLite

    with RedisLite(tmp_path / "redis") as server:
        yield server.url


@pytest.fixture()
def api_server(migrated_db: str, private_broker: str, tmp_path: Path) -> Iterator[Http]:
    from cityloop.localservices import free_port

    truncate_all(migrated_db)
    port = free_port()
    env = child_env(make_dispatch_config(migrated_db, private_broker, DOWN_LLM))
    env.update({"PORT": str(port), "HOST": "127.0.0.1", "LLM__ENABLED": "false",
                "CITY_FILE": str(SAMPLE_CITY)})
    log_path = tmp_path / "api.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cityloop", "api"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    http = Http(f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
            try:
                if http.call("GET", "/open311/discovery.json")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
            time.sleep(0.3)
        yield http
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def poll(what: Callable[[], Any], timeout_s: float = 60, every_s: float = 0.5,
         logs: Callable[[], str] = str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out; logs:\n{logs()[-6000:]}"
        time.sleep(every_s)


def request_xml(http: Http, request_id: str) -> ET.Element:
    status, body = http.call("GET", f"/open311/v2/requests/{request_id}.xml")
    assert status == 200, body
    root = ET.fromstring(body)
    assert root.tag == "service_requests" and len(root) == 1
    return root[0]


def test_an_open311_client_files_a_request_and_sees_it_closed(
        api_server: Http, migrated_db: str, private_broker: str, start_worker: Any) -> None:
    engine = make_engine(migrated_db)
    factory, city = make_session_factory(engine), load_city(SAMPLE_CITY)
    with factory() as db, db.begin():
        key = apikeys.add(db_session=db, name="roundtrip", rate_limit_per_minute=100)
    worker = start_worker(make_dispatch_config(migrated_db, private_broker, DOWN_LLM))
    http = api_server

    # 1. POST, form-encoded, -> a token
    created = http.json("POST", "/open311/v2/requests.json", form={
        "api_key": key, "service_code": TREE, "lat": "41.62", "long": "-93.65",
        "description": "A big branch fell across the sidewalk on Mill Street",
        "email": "ann@example.com", "media_url": "https://photos.example.com/branch.jpg"})
    assert isinstance(created, list) and len(created) == 1
    token = created[0]["token"]
    assert token

    # 2. the worker understands and routes it: the token resolves to a service_request_id
    def resolved() -> str | None:
        answer = http.json("GET", f"/open311/v2/tokens/{token}.json")
        assert answer[0]["token"] == token
        return answer[0]["service_request_id"]  # type: ignore[no-any-return]

    request_id = poll(resolved, logs=lambda: http.log()[:3000] + "\n--- worker\n" + worker.log())

    # 3. the request reads back open, with the agency that has it
    opened = http.json("GET", f"/open311/v2/requests/{request_id}.json")[0]
    assert opened["service_request_id"] == request_id
    assert opened["status"] == "open"
    assert opened["agency_responsible"] == LANDSCAPING
    assert opened["media_url"] == "https://photos.example.com/branch.jpg"
    before = request_xml(http, request_id)
    assert before.findtext("status") == "open"
    assert before.findtext("agency_responsible") == LANDSCAPING  # "&" escaped and read back

    # 4. a crew works the ticket; the JSON API needs a signed-in user, so an anonymous call
    # is refused and the actions are taken in-process (as the signed-in route would)
    status, _ = http.call("GET", f"/api/events/{token}")
    ticket_id = None
    if status == 200:
        ticket_id = http.json("GET", f"/api/events/{token}")["ticket_id"]
    with factory() as db:
        by_reference = db.scalar(select(Ticket.id).where(Ticket.reference == request_id))
    assert by_reference is not None
    assert ticket_id in (None, by_reference)
    ticket_id = by_reference
    for action, note in (("acknowledge", "crew on the way"), ("resolve", "branch removed")):
        status, body = http.call("POST", f"/api/tickets/{ticket_id}/{action}",
                                 json_body={"actor": "crew:x", "note": note})
        if status in (401, 403):
            with factory() as db, db.begin():
                apply_action(db_session=db, city=city, ticket_id=ticket_id,
                             action=action,  # type: ignore[arg-type]
                             request=ActionRequest(actor="crew:x", note=note))
        else:
            assert status == 200, body

    # 5. closed, with the crew's last note and a later update time, in XML
    after = request_xml(http, request_id)
    assert after.findtext("status") == "closed"
    assert after.findtext("status_notes") == "branch removed"
    assert (before.findtext("status_notes") or "") != "branch removed"
    assert (after.findtext("updated_datetime") or "") > (before.findtext("updated_datetime") or "")
    assert after.findtext("service_request_id") == request_id
    assert after.findtext("media_url") == "https://photos.example.com/branch.jpg"
    engine.dispose()

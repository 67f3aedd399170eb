"""Camera re-check after a resolution, against real PostgreSQL, with a fake runner at the
perception edge: still there -> reopened with the new snapshot as evidence; gone ->
cleared (closed when configured); no runner or a failing one -> skipped with the reason."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.config import ApiConfig
from dispatch.cameras import recheck
from dispatch.cameras.models import Recheck
from dispatch.cameras.recheck import RecheckResult, RecheckUnavailable
from dispatch.core.db import transaction
from dispatch.core.runtime import get_runtime
from dispatch.intake.models import Event
from dispatch.tasks import run_rechecks
from dispatch.tickets.models import Ticket
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.receivers import city_file, wait_until
from tests.helpers.tickets import make_ticket
from tests.helpers.webauth import login

CAMERA = {"camera_id": "cam-mill-st", "zone": "sidewalk-east", "box": [10, 20, 110, 220],
          "category": "fallen_tree"}
JPEG = b"\xff\xd8\xff\xe0" + b"0" * 64 + b"\xff\xd9"
LATER = timedelta(minutes=31)  # the sample city re-checks 30 minutes after a resolution


@dataclass
class FakeRecheckRunner:
    """The perception edge: answers what the test scripts and records what it was asked."""

    result: RecheckResult | None = None
    error: Exception | None = None
    calls: list[tuple[str, str, str, list[float] | None]] = field(default_factory=list)

    def check(self, camera_id: str, zone: str, category: str,
              box: list[float] | None) -> RecheckResult:
        self.calls.append((camera_id, zone, category, box))
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def make_client(config_city: Path | None, migrated_db: str, broker_url: str) -> TestClient:
    config = make_dispatch_config(migrated_db, broker_url, DOWN_LLM)
    if config_city is not None:
        config = config.model_copy(update={"city_file": config_city})
    return TestClient(create_app(ApiConfig(dispatch=config)))


@pytest.fixture()
def client(migrated_db: str, broker_url: str, clean_state: None) -> Iterator[TestClient]:
    with make_client(None, migrated_db, broker_url) as test_client:
        login(test_client, "ann", role="dispatcher")
        yield test_client


def resolved_camera_ticket(client: TestClient, attributes: dict[str, Any] | None = None,
                           source: str = "camera") -> int:
    ticket_id = make_ticket(client, "Fallen tree detected across the sidewalk", source=source)
    with transaction(get_runtime().factory) as db:
        ticket = db.get(Ticket, ticket_id)
        assert ticket is not None
        event = db.get(Event, ticket.incident.origin_event_id)
        assert event is not None
        event.attributes = CAMERA if attributes is None else attributes
    for action in ("acknowledge", "resolve"):
        response = client.post(f"/api/tickets/{ticket_id}/{action}", json={"actor": "x"})
        assert response.status_code == 200, response.text
    return ticket_id


def schedule() -> list[int]:
    rt = get_runtime()
    with transaction(rt.factory) as db:
        return recheck.schedule(db_session=db, city=rt.city)


def run(runner: FakeRecheckRunner | None, at: datetime | None = None) -> dict[int, str]:
    rt = get_runtime()
    return recheck.run_due(factory=rt.factory, city=rt.city, runner=runner,
                           now=at or datetime.now(UTC) + LATER)


def ticket(client: TestClient, ticket_id: int) -> dict[str, Any]:
    return dict(client.get(f"/api/tickets/{ticket_id}").json())


def stored(recheck_id: int) -> Recheck:
    with get_runtime().factory() as db:
        row = db.scalar(select(Recheck).where(Recheck.id == recheck_id))
        assert row is not None
        _ = row.snapshot  # load the deferred column
        return row


def test_still_present_reopens_with_the_new_snapshot(client: TestClient) -> None:
    ticket_id = resolved_camera_ticket(client)
    [recheck_id] = schedule()
    assert schedule() == []  # once per resolution
    runner = FakeRecheckRunner(result=RecheckResult(still_present=True, snapshot_jpeg=JPEG,
                                                    score=0.91, detail="tree still on the path"))
    assert run(runner, at=datetime.now(UTC)) == {}  # not due yet: 30 minutes after resolving
    assert run(runner) == {recheck_id: "reopened"}
    assert runner.calls == [("cam-mill-st", "sidewalk-east", "fallen_tree", [10.0, 20.0, 110.0, 220.0])]
    assert run(runner) == {}  # done once

    body = ticket(client, ticket_id)
    assert body["status"] == "open"
    entry = body["history"][-1]
    assert (entry["action"], entry["actor"], entry["from_status"]) == ("reopen", "system:recheck", "resolved")
    assert entry["data"]["snapshot"] == f"/api/rechecks/{recheck_id}/snapshot"
    evidence = client.get(entry["data"]["snapshot"])
    assert evidence.status_code == 200
    assert (evidence.content, evidence.headers["content-type"]) == (JPEG, "image/jpeg")
    [listed] = client.get(f"/api/tickets/{ticket_id}/rechecks").json()
    assert (listed["status"], listed["has_snapshot"], listed["score"]) == ("reopened", True, 0.91)
    client.cookies.clear()
    login(client, "ola", role="staff", agency="sanitation")  # another agency sees nothing
    assert client.get(entry["data"]["snapshot"]).status_code == 404
    assert "still present" in entry["note"] and "0.91" in entry["note"]
    row = stored(recheck_id)
    assert (row.status, row.snapshot, row.snapshot_content_type) == ("reopened", JPEG, "image/jpeg")


def test_gone_is_recorded_as_cleared_and_the_ticket_stays_resolved(client: TestClient) -> None:
    ticket_id = resolved_camera_ticket(client)
    [recheck_id] = schedule()
    assert run(FakeRecheckRunner(result=RecheckResult(still_present=False, score=0.05))) == {
        recheck_id: "cleared"}
    body = ticket(client, ticket_id)
    assert body["status"] == "resolved"
    assert body["history"][-1]["action"] == "recheck_cleared"
    assert stored(recheck_id).snapshot is None


def test_gone_closes_the_ticket_when_configured(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None,
) -> None:
    path = city_file(tmp_path, http_url=None, smtp_port=None,
                     extra={"rechecks": {"delay_minutes": 1, "close_when_cleared": True}})
    with make_client(path, migrated_db, broker_url) as client:
        login(client, "ann", role="dispatcher")
        ticket_id = resolved_camera_ticket(client)
        [recheck_id] = schedule()
        assert run(FakeRecheckRunner(result=RecheckResult(still_present=False)),
                   at=datetime.now(UTC) + timedelta(minutes=2)) == {recheck_id: "cleared"}
        body = ticket(client, ticket_id)
        assert body["status"] == "closed"
        assert [h["action"] for h in body["history"][-2:]] == ["recheck_cleared", "close"]


@pytest.mark.parametrize(("runner", "reason"), [
    (None, "perception is off"),
    (FakeRecheckRunner(error=RecheckUnavailable("camera cam-mill-st does not answer")),
     "camera cam-mill-st does not answer"),
    (FakeRecheckRunner(error=RuntimeError("model exploded")), "RuntimeError: model exploded"),
])
def test_no_runner_or_a_failing_one_is_skipped_with_the_reason(
    client: TestClient, runner: FakeRecheckRunner | None, reason: str,
) -> None:
    ticket_id = resolved_camera_ticket(client)
    [recheck_id] = schedule()
    assert run(runner) == {recheck_id: "skipped"}
    assert run(runner) == {}  # skipped once, not retried in a loop
    body = ticket(client, ticket_id)
    assert body["status"] == "resolved"
    assert body["history"][-1]["action"] == "recheck_skipped"
    assert reason in body["history"][-1]["note"]
    assert reason in (stored(recheck_id).detail or "")


def test_only_camera_tickets_with_their_zone_are_rechecked(client: TestClient) -> None:
    resolved_camera_ticket(client, source="hotline")
    assert schedule() == []
    incomplete = resolved_camera_ticket(client, attributes={"camera_id": "cam-1"})
    [recheck_id] = schedule()
    row = stored(recheck_id)
    assert row.ticket_id == incomplete
    assert row.status == "skipped" and "zone" in (row.detail or "")
    assert run(FakeRecheckRunner(result=RecheckResult(still_present=True))) == {}


def test_the_beat_task_schedules_and_runs_rechecks_in_a_worker(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None, start_worker: Any,
) -> None:
    """No model can be loaded in the test worker and its camera is not configured, so the
    re-check is skipped with the reason, once, however often the task runs."""
    path = city_file(tmp_path, http_url=None, smtp_port=None,
                     extra={"rechecks": {"delay_minutes": 0.01}})
    config = make_dispatch_config(migrated_db, broker_url, DOWN_LLM).model_copy(
        update={"city_file": path})
    with TestClient(create_app(ApiConfig(dispatch=config))) as client:
        login(client, "ann", role="dispatcher")
        ticket_id = resolved_camera_ticket(client)
        start_worker(config)
        for _ in range(3):
            run_rechecks.apply_async()

        def skipped() -> bool:
            with get_runtime().factory() as db:
                return db.scalar(select(Recheck.status).where(Recheck.ticket_id == ticket_id)) == "skipped"

        wait_until(skipped, what="the re-check skipped by the worker")
        run_rechecks.apply_async()
        time.sleep(3)  # let the late messages run too
        entries = [h for h in ticket(client, ticket_id)["history"] if h["action"] == "recheck_skipped"]
        assert len(entries) == 1
        assert entries[0]["note"].startswith("camera re-check skipped: ")
        assert len(entries[0]["note"]) > len("camera re-check skipped: ")

"""SLA escalation against real PostgreSQL: each configured level is reached once, raises
the priority one step, is recorded in the history, and e-mails the agency supervisor over
a real SMTP server when the agency has SMTP settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.config import ApiConfig
from dispatch.core.config import DispatchConfig
from dispatch.core.db import transaction
from dispatch.core.runtime import get_runtime
from dispatch.delivery import outbox
from dispatch.delivery.models import Delivery
from dispatch.sla.escalation import escalate_overdue
from dispatch.sla.models import EscalationRecord
from dispatch.tasks import check_sla
from dispatch.tickets.models import Ticket
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.receivers import MailBox, city_file, serve_smtp, wait_until
from tests.helpers.tickets import make_ticket
from tests.helpers.webauth import login

TREE = "Tree fell on the sidewalk"  # fallen_tree: priority high, to landscaping


@contextmanager
def running(config: DispatchConfig) -> Iterator[TestClient]:
    with TestClient(create_app(ApiConfig(dispatch=config))) as client:
        login(client, "ann", role="dispatcher")
        yield client


def configured(tmp_path: Path, migrated_db: str, broker_url: str, smtp_port: int | None) -> DispatchConfig:
    base = make_dispatch_config(migrated_db, broker_url, DOWN_LLM)
    path = city_file(tmp_path, http_url=None, smtp_port=smtp_port)
    return base.model_copy(update={"city_file": path})


@pytest.fixture()
def smtp() -> Iterator[tuple[MailBox, int]]:
    yield from serve_smtp()


def overdue(ticket_id: int, by: timedelta) -> datetime:
    """Make the ticket due ``by`` ago; returns the due time."""
    due = datetime.now(UTC) - by
    with transaction(get_runtime().factory) as db:
        ticket = db.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.sla_due_at = due
    return due


def escalate(at: datetime | None = None) -> list[tuple[int, int, str, str]]:
    rt = get_runtime()
    with transaction(rt.factory) as db:
        done = escalate_overdue(db_session=db, city=rt.city, now=at)
    return [(e.ticket_id, e.level, e.priority_from, e.priority_to) for e in done]


def escalations(client: TestClient, ticket_id: int) -> list[dict[str, Any]]:
    history = client.get(f"/api/tickets/{ticket_id}").json()["history"]
    return [h for h in history if h["action"] == "escalated"]


def test_levels_are_reached_once_each_and_raise_the_priority(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None,
) -> None:
    with running(configured(tmp_path, migrated_db, broker_url, smtp_port=None)) as client:
        ticket_id = make_ticket(client, TREE)
        calm = make_ticket(client, "Another tree fell on the sidewalk by the school")
        due = overdue(ticket_id, timedelta(minutes=1))
        assert escalate() == [(ticket_id, 1, "high", "critical")]
        assert escalate() == []  # once per level
        [entry] = escalations(client, ticket_id)
        assert entry["data"]["level"] == 1 and entry["actor"] == "system:sla"
        assert "supervisor notified in the inbox" in entry["note"]  # no SMTP: no e-mail
        body = client.get(f"/api/tickets/{ticket_id}").json()
        assert (body["priority"], body["sla_breached"]) == ("critical", True)

        assert escalations(client, calm) == []  # not overdue yet

        # the beat was down for three days: levels 2 (24 h) and 3 (72 h) come in order
        later = due + timedelta(hours=73)
        assert [e for e in escalate(later) if e[0] == ticket_id] == [
            (ticket_id, 2, "critical", "critical"), (ticket_id, 3, "critical", "critical")]
        assert [e for e in escalate(later + timedelta(days=30)) if e[0] == ticket_id] == []
        assert [e["data"]["level"] for e in escalations(client, ticket_id)] == [1, 2, 3]
        with get_runtime().factory() as db:
            levels = db.scalars(select(EscalationRecord.level)
                                .where(EscalationRecord.ticket_id == ticket_id)).all()
            assert sorted(levels) == [1, 2, 3]
            assert db.scalars(select(Delivery).where(Delivery.channel.like("escalation-%"))).all() == []


def test_resolved_ticket_is_not_escalated(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None,
) -> None:
    with running(configured(tmp_path, migrated_db, broker_url, smtp_port=None)) as client:
        ticket_id = make_ticket(client, TREE)
        for action in ("acknowledge", "resolve"):
            assert client.post(f"/api/tickets/{ticket_id}/{action}", json={"actor": "x"}).status_code == 200
        overdue(ticket_id, timedelta(hours=100))
        assert escalate() == []


def test_supervisor_is_emailed_once_per_level_when_the_agency_has_smtp(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None,
    smtp: tuple[MailBox, int], start_worker: Any,
) -> None:
    box, port = smtp
    config = configured(tmp_path, migrated_db, broker_url, smtp_port=port)
    with running(config) as client:
        ticket_id = make_ticket(client, TREE)
        overdue(ticket_id, timedelta(minutes=5))
        reference = client.get(f"/api/tickets/{ticket_id}").json()["reference"]
        check_sla.apply_async()
        check_sla.apply_async()  # the beat firing twice, or a redelivered message
        start_worker(config)
        wait_until(lambda: len(to_supervisor(box)) >= 1, what="the supervisor's e-mail")
        wait_until(lambda: len(escalations(client, ticket_id)) == 1, what="escalation entry")
        rt = get_runtime()
        with rt.factory() as db:
            [row] = db.scalars(select(Delivery).where(Delivery.channel == "escalation-1")).all()
        wait_until(lambda: outbox_status(row.id) == "sent", what="escalation delivery sent")
        # a duplicate of the e-mail task after the fact sends nothing
        assert outbox.attempt(factory=rt.factory, city=rt.city, delivery_id=row.id,
                              env={}).status == "skipped"

        [raw] = to_supervisor(box)  # the agency's own desk also gets the ticket by e-mail
        mail = message_from_bytes(raw)
        assert reference in mail["Subject"] and "SLA escalation level 1" in mail["Subject"]
        [entry] = escalations(client, ticket_id)
        assert entry["data"]["notified"] == ["trees-supervisor@riverton.example"]


def to_supervisor(box: MailBox) -> list[bytes]:
    return [raw for rcpt, raw in box.messages if rcpt == ["trees-supervisor@riverton.example"]]


def outbox_status(delivery_id: int) -> str:
    with get_runtime().factory() as db:
        row = db.get(Delivery, delivery_id)
        assert row is not None
        return row.status


def test_tickets_waiting_for_a_later_level_do_not_starve_the_ones_that_are_due(
    tmp_path: Path, migrated_db: str, broker_url: str, clean_state: None,
) -> None:
    """The batch takes the tickets whose own next level is due, oldest first; before, the
    oldest overdue tickets filled it even when none of their levels was due."""
    with running(configured(tmp_path, migrated_db, broker_url, smtp_port=None)) as client:
        waiting = make_ticket(client, TREE)
        due = make_ticket(client, "Another tree fell on the sidewalk by the school")
        overdue(waiting, timedelta(hours=2))
        assert escalate() == [(waiting, 1, "high", "critical")]  # level 2 comes at 24 h
        overdue(due, timedelta(minutes=1))
        rt = get_runtime()
        with transaction(rt.factory) as db:
            done = escalate_overdue(db_session=db, city=rt.city, limit=1)
        assert [(e.ticket_id, e.level) for e in done] == [(due, 1)]

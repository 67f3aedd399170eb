"""Chaos on real parts: a SIGKILLed worker and a restarted broker lose and double nothing.

The run (``cityloop.chaos``) owns its redis-server and scratch database; the LLM is
unreachable, so tickets are made by the rules and the fallback writer. The checker is
tested first against states made by the real flows, so a broken invariant is seen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, delete, func, select, text

from cityloop.chaos import ChaosConfig, check_invariants, run_chaos
from cityloop.chaos.brokers import BrokerKind
from cityloop.chaos.workload import event_bodies, grid_cells
from dispatch.city.config import load_city
from dispatch.core.db import make_session_factory, transaction
from dispatch.delivery import flows as delivery_flows
from dispatch.delivery.base import TicketMessage
from dispatch.delivery.models import Delivery
from dispatch.incidents import flows as incident_flows
from dispatch.intake import service as intake_service
from dispatch.intake.models import Event
from dispatch.intake.schemas import EventCreate
from dispatch.tickets import flows as ticket_flows
from dispatch.tickets.models import Ticket
from tests.helpers.config import SAMPLE_CITY


@pytest.fixture()
def engine(clean_state: None, migrated_db: str) -> Iterator[Engine]:
    made = create_engine(migrated_db)
    yield made
    made.dispose()


def _through_flows(engine: Engine, bodies: list[dict[str, object]]) -> list[str]:
    """Each body stored, understood, routed and delivered to the inbox, in process."""
    city = load_city(SAMPLE_CITY)
    factory = make_session_factory(engine)
    keys = []
    for body in bodies:
        with transaction(factory) as db:
            event, _ = intake_service.create_event(db_session=db, city=city, data=EventCreate(**body),
                                             max_image_bytes=1000)
            event_id = event.id
            keys.append(str(event.idempotency_key))
        incident = incident_flows.understand_event(factory=factory, city=city, chat=None, event_id=event_id)
        assert incident is not None
        routed = ticket_flows.route_incident(factory=factory, city=city, chat=None, incident_id=incident)
        assert routed is not None
        delivery_flows.record_inbox_delivery(factory=factory, ticket_id=routed[0], routing_seq=routed[1], city=city)
    return keys


def test_checker_sees_every_broken_invariant(engine: Engine) -> None:
    bodies = event_bodies(10, "checker")  # 9 routed by the rules, 1 left to triage
    keys = _through_flows(engine, bodies)
    whole = check_invariants(engine, accepted_keys=keys)
    assert whole.violations() == []
    assert whole.counts["tickets"] == 10 and whole.counts["triage"] == 1

    lost = check_invariants(engine, accepted_keys=[*keys, "web:never-stored"])
    assert lost.violations() == ["1 accepted event(s) are not in the database"]

    with transaction(make_session_factory(engine)) as db:
        ticket_id = db.scalar(select(func.min(Ticket.id)).where(Ticket.agency.is_not(None)))
        db.execute(delete(Delivery).where(Delivery.ticket_id == ticket_id, Delivery.channel == "inbox"))
        first, second = db.scalars(select(Event).where(Event.lat.is_not(None)).limit(2)).all()
        first.incident_id = second.incident_id  # its own incident is left with no event
    broken = check_invariants(engine, accepted_keys=keys).violations()
    assert "1 routed ticket(s) not delivered exactly once to the inbox" in broken
    assert "1 routed ticket(s) without exactly one 'delivered' entry" not in broken  # history kept
    assert "1 incident(s) no event belongs to (work done twice)" in broken
    assert check_invariants(engine, accepted_keys=keys).counts["merged_events"] == 1


def test_checker_counts_webhook_requests_by_idempotency_key(engine: Engine) -> None:
    keys = _through_flows(engine, event_bodies(3, "hooks"))
    with engine.connect() as conn:
        tickets = conn.execute(text("SELECT id, routing_seq FROM tickets ORDER BY id")).all()
    sent = Counter({TicketMessage.key_for(ticket_id=t, channel="webhook", routing_seq=s): 1
                    for t, s in tickets[:2]})
    sent[next(iter(sent))] += 1  # one repeat: allowed, counted
    result = check_invariants(engine, accepted_keys=keys, webhook_agencies={"landscaping",
                              "urban_admin", "sanitation"}, webhook_keys=sent)
    assert result.webhook_expected == 3
    assert result.webhook_missing == 1 and result.webhook_repeats == 1
    assert result.violations() == ["1 webhook ticket(s) never reached the receiver"]


def test_workload_spreads_events_beyond_the_duplicate_radius() -> None:
    cells = grid_cells()
    assert len(set(cells)) == len(cells) > 5000
    bodies = event_bodies(300, "spread")
    assert len({b["external_id"] for b in bodies}) == 300
    located = [(b["lat"], b["lon"]) for b in bodies if "lat" in b]
    assert len(set(located)) == len(located)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_killed_worker_and_restarted_broker_lose_and_double_nothing(tmp_path: Path) -> None:
    """On redis, the embedded default; RabbitMQ gets the same kills and restart in
    ``test_topology.py`` (split topology), and ``scripts/chaos.py --broker rabbitmq`` at scale."""
    broker: BrokerKind = "redis"
    cfg = ChaosConfig(events=300, backlog=40, visibility_timeout_s=15, stale_event_after_s=30,
                      sweep_interval_s=4, stall_s=180, broker=broker, log_dir=tmp_path)
    report = run_chaos(cfg, say=print)
    print(report.format())

    assert report.violations() == [], report.format()
    assert 0 < report.killed_at_processed < cfg.events  # the kill landed mid-run
    assert report.killed_at_processed < report.broker_stopped_at_processed < cfg.events
    assert report.invariants.accepted == cfg.events
    assert report.invariants.counts["incidents"] == cfg.events  # the workload merges nothing
    assert report.invariants.webhook_expected == cfg.events - report.invariants.counts["triage"]

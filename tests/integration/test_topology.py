"""The split topology on real parts, the way a city runs across hosts: two APIs (events
alternate between them), a worker per kind of work on its own queues (pipeline.*, agency.*,
perception.clips) and one beat, on PostgreSQL and a RabbitMQ node of the run's own. One worker
of each kind is SIGKILLed and restarted and the broker restarted mid-run; nothing is lost
and nothing is done twice. ``scripts/chaos.py --topology split --broker rabbitmq`` at 5,000."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityloop.chaos import ChaosConfig, run_chaos
from cityloop.chaos.brokers import RABBITMQ_BIN

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (RABBITMQ_BIN / "rabbitmq-server").exists(),
                                                   reason="needs Debian's rabbitmq-server")]


@pytest.mark.timeout(1500)
def test_split_topology_loses_and_doubles_nothing(tmp_path: Path) -> None:
    cfg = ChaosConfig(events=200, backlog=40, topology="split", broker="rabbitmq", visibility_timeout_s=15,
                      stale_event_after_s=30, sweep_interval_s=4, stall_s=180, log_dir=tmp_path)
    report = run_chaos(cfg, say=print)
    print(report.format())

    assert report.violations() == [], report.format()
    assert sorted(report.killed) == ["worker-agency", "worker-perception", "worker-pipeline"]
    assert 0 < report.killed_at_processed < report.broker_stopped_at_processed < cfg.events
    assert len(report.posted_per_api) == 2 and min(report.posted_per_api) >= cfg.events // 3  # both APIs served
    assert report.invariants.accepted == cfg.events
    assert report.invariants.counts["incidents"] == cfg.events
    assert report.invariants.webhook_expected == cfg.events - report.invariants.counts["triage"]

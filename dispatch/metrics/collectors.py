"""Metrics read at scrape time from what already knows them: the database (events, tickets,
deliveries, SLA breaches, camera workers) and the broker (queue depths).

Each collector answers for the whole system, whichever process or host serves ``/metrics``;
a part that cannot be read (the database or the broker away) is left out of that scrape and
counted in ``cityloop_scrape_errors``, never failing the scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

log = logging.getLogger(__name__)

EVENTS_SQL = text("SELECT source, count(*) FROM events GROUP BY source")
TICKETS_SQL = text("SELECT coalesce(agency, ''), status, count(*), count(*) FILTER (WHERE sla_breached) "
                   "FROM tickets GROUP BY 1, 2")
# one label for every ticket-change publication (``mqtt-change-<n>``): labels stay bounded
_CHANNEL = "CASE WHEN channel LIKE 'mqtt-change-%' THEN 'mqtt-change' ELSE channel END"
DELIVERIES_SQL = text(f"""
SELECT agency, {_CHANNEL},
       count(*) FILTER (WHERE status = 'sent'),
       coalesce(sum(attempts - CASE WHEN status = 'sent' THEN 1 ELSE 0 END)
                FILTER (WHERE channel <> 'inbox' AND attempts > 0), 0)
FROM deliveries GROUP BY 1, 2""")
DEAD_LETTERS_SQL = text(f"SELECT agency, {_CHANNEL}, count(*) FROM dead_letters WHERE retried_at IS NULL "
                        "GROUP BY 1, 2")
CAMERAS_SQL = text("SELECT camera_id, state FROM camera_status")
CAMERA_STATES = ("connecting", "running", "reconnecting", "failed", "stopped")


class DatabaseCollector(Collector):
    """Events by source, tickets by agency and status, SLA breaches, deliveries and their
    failed tries, open dead letters, and each camera worker's last reported state."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        with self.engine.connect() as conn:
            conn.execute(text("SET LOCAL statement_timeout = 5000"))
            events = conn.execute(EVENTS_SQL).all()
            tickets = conn.execute(TICKETS_SQL).all()
            deliveries = conn.execute(DELIVERIES_SQL).all()
            dead = conn.execute(DEAD_LETTERS_SQL).all()
            cameras = conn.execute(CAMERAS_SQL).all()
        yield _counter("cityloop_events", "Events received, by source", ["source"],
                       [((r[0],), r[1]) for r in events])
        yield _gauge("cityloop_tickets", "Tickets by agency ('' = triage) and status", ["agency", "status"],
                     [((r[0], r[1]), r[2]) for r in tickets])
        yield _gauge("cityloop_tickets_sla_breached", "Tickets past their SLA due time, by agency and status",
                     ["agency", "status"], [((r[0], r[1]), r[3]) for r in tickets])
        yield _counter("cityloop_deliveries_sent", "Ticket deliveries sent, by agency and channel",
                       ["agency", "channel"], [((r[0], r[1]), r[2]) for r in deliveries])
        yield _counter("cityloop_delivery_failures", "Outside channel sends that failed a try",
                       ["agency", "channel"], [((r[0], r[1]), r[3]) for r in deliveries])
        yield _gauge("cityloop_dead_letters", "Deliveries that failed their last try and wait for an operator",
                     ["agency", "channel"], [((r[0], r[1]), r[2]) for r in dead])
        states = {(camera, state): int(state == current) for camera, current in cameras
                  for state in {*CAMERA_STATES, current}}
        yield _gauge("cityloop_camera_state", "1 for each live camera worker's last reported state",
                     ["camera", "state"], [((c, st), v) for (c, st), v in states.items()])


class QueueCollector(Collector):
    """Messages waiting in each queue, as the broker counts them."""

    def __init__(self, queues: Callable[[], list[str]], depths: Callable[[list[str]], dict[str, int]]) -> None:
        self.queues = queues
        self.depths = depths

    def collect(self) -> Iterator[Metric]:
        depths = self.depths(self.queues())
        yield _gauge("cityloop_queue_depth", "Messages waiting in a Celery queue", ["queue"],
                     (((q,), d) for q, d in sorted(depths.items())))


class SystemCollector(Collector):
    """The parts above; one that cannot be read (the database or the broker away) is left
    out of that scrape and counted in ``cityloop_scrape_errors``, never failing the page."""

    def __init__(self, parts: dict[str, Collector]) -> None:
        self.parts = parts
        self.errors = dict.fromkeys(parts, 0)

    def collect(self) -> Iterator[Metric]:
        for name, part in self.parts.items():
            try:
                yield from list(part.collect())
            except Exception as exc:  # noqa: BLE001  a missing part, not a failed page
                self.errors[name] += 1
                log.warning("metrics: %s not collected: %s", name, exc)
        yield _counter("cityloop_scrape_errors", "Scrapes in which a part could not be read", ["part"],
                       (((name,), n) for name, n in self.errors.items()))


def _gauge(name: str, doc: str, labels: list[str], rows: Iterable[tuple[tuple[str, ...], float]]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric(list(values), float(value))
    return family


def _counter(name: str, doc: str, labels: list[str], rows: Iterable[tuple[tuple[str, ...], float]]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric(list(values), float(value))
    return family

"""What must hold once the system is quiet, counted in the database (and at the receiver).

Per event: stored and in an incident. Per incident: exactly one ticket, and referenced by
an event (an incident no event points at is work done twice). Per routed ticket: exactly
one inbox Delivery row and one inbox ``delivered`` history entry for its current routing;
a triage ticket has none. Per webhook agency's ticket: its Idempotency-Key arrived.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import Engine, text

from dispatch.delivery.base import TicketMessage

COUNTS_SQL = text("""
SELECT
  (SELECT count(*) FROM events) AS events,
  (SELECT count(*) FROM events WHERE incident_id IS NULL) AS unprocessed,
  (SELECT count(*) FROM incidents) AS incidents,
  (SELECT count(*) FROM incidents i
     WHERE (SELECT count(*) FROM tickets t WHERE t.incident_id = i.id) <> 1) AS without_one_ticket,
  (SELECT count(*) FROM incidents i
     WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.incident_id = i.id)) AS orphan_incidents,
  (SELECT count(*) FROM events e JOIN incidents i ON i.id = e.incident_id
     WHERE i.origin_event_id <> e.id) AS merged_events,
  (SELECT count(*) FROM tickets) AS tickets,
  (SELECT count(*) FROM tickets WHERE agency IS NULL) AS triage,
  (SELECT count(*) FROM (SELECT incident_id FROM tickets GROUP BY 1 HAVING count(*) > 1) d)
     AS duplicated_tickets,
  (SELECT count(*) FROM tickets t WHERE t.agency IS NOT NULL AND
     (SELECT count(*) FROM deliveries d WHERE d.ticket_id = t.id AND d.channel = 'inbox'
        AND d.routing_seq = t.routing_seq) <> 1) AS inbox_not_once,
  (SELECT count(*) FROM tickets t WHERE t.agency IS NULL AND EXISTS
     (SELECT 1 FROM deliveries d WHERE d.ticket_id = t.id AND d.channel = 'inbox'
        AND d.routing_seq = t.routing_seq)) AS triage_delivered,
  (SELECT count(*) FROM tickets t WHERE t.agency IS NOT NULL AND
     (SELECT count(*) FROM ticket_history h WHERE h.ticket_id = t.id AND h.action = 'delivered'
        AND h.data->>'channel' = 'inbox'
        AND (h.data->>'routing_seq')::int = t.routing_seq) <> 1) AS history_not_once
""")
KEYS_SQL = text("SELECT idempotency_key FROM events WHERE idempotency_key IS NOT NULL")
ROUTED_SQL = text("SELECT id, routing_seq, agency FROM tickets WHERE agency IS NOT NULL")
PROGRESS_SQL = text("""
SELECT (SELECT count(*) FROM events WHERE incident_id IS NOT NULL),
       (SELECT count(*) FROM tickets),
       (SELECT count(*) FROM deliveries WHERE channel = 'inbox')
""")


@dataclass
class Invariants:
    """The counts after a run; ``violations()`` names every one that does not hold."""

    accepted: int
    counts: dict[str, int]
    lost: int
    webhook_expected: int | None = None
    webhook_missing: int = 0
    webhook_unexpected: int = 0
    webhook_requests: int = 0
    webhook_repeats: int = 0
    webhook_unkeyed: int = 0
    notes: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        c = self.counts
        found = []
        if self.lost:
            found.append(f"{self.lost} accepted event(s) are not in the database")
        rules = (("unprocessed", "event(s) never got an incident"),
                 ("without_one_ticket", "incident(s) without exactly one ticket"),
                 ("orphan_incidents", "incident(s) no event belongs to (work done twice)"),
                 ("duplicated_tickets", "incident(s) with more than one ticket"),
                 ("inbox_not_once", "routed ticket(s) not delivered exactly once to the inbox"),
                 ("triage_delivered", "triage ticket(s) delivered to an inbox"),
                 ("history_not_once", "routed ticket(s) without exactly one 'delivered' entry"))
        found += [f"{c[key]} {what}" for key, what in rules if c[key]]
        if self.webhook_expected is not None:
            if self.webhook_missing:
                found.append(f"{self.webhook_missing} webhook ticket(s) never reached the receiver")
            if self.webhook_unexpected:
                found.append(f"{self.webhook_unexpected} webhook key(s) match no routed ticket")
            if self.webhook_unkeyed:
                found.append(f"{self.webhook_unkeyed} webhook request(s) without an Idempotency-Key")
        return found

    def lines(self) -> list[str]:
        c = self.counts
        out = [
            f"events accepted {self.accepted}, stored {c['events']}, lost {self.lost}, "
            f"without incident {c['unprocessed']}",
            f"incidents {c['incidents']} (events merged into another's incident: "
            f"{c['merged_events']}), without exactly one ticket {c['without_one_ticket']}, "
            f"made twice {c['orphan_incidents']}",
            f"tickets {c['tickets']} (routed {c['tickets'] - c['triage']}, triage {c['triage']}), "
            f"duplicated {c['duplicated_tickets']}",
            f"inbox deliveries not exactly once {c['inbox_not_once']}, 'delivered' entries not "
            f"exactly once {c['history_not_once']}, triage tickets delivered {c['triage_delivered']}",
        ]
        if self.webhook_expected is not None:
            out.append(
                f"webhook: {self.webhook_expected} tickets expected, {self.webhook_missing} missing, "
                f"{self.webhook_unexpected} unexpected keys; {self.webhook_requests} requests, "
                f"{self.webhook_repeats} repeats of a key already received")
        return out + self.notes


def progress(engine: Engine) -> tuple[int, int, int]:
    """(events in an incident, tickets, inbox deliveries)."""
    with engine.connect() as conn:
        row = conn.execute(PROGRESS_SQL).one()
    return int(row[0]), int(row[1]), int(row[2])


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {k: int(v) for k, v in conn.execute(COUNTS_SQL).one()._mapping.items()}


def check_invariants(
    engine: Engine, *, accepted_keys: Collection[str],
    webhook_agencies: Collection[str] | None = None, webhook_keys: Counter[str] | None = None,
    webhook_unkeyed: int = 0,
) -> Invariants:
    """Count what holds. ``accepted_keys`` are the events' idempotency keys the API
    accepted; with ``webhook_agencies`` the receiver's ``webhook_keys`` are checked too."""
    found = counts(engine)
    with engine.connect() as conn:
        stored = set(conn.scalars(KEYS_SQL))
        routed = conn.execute(ROUTED_SQL).all()
    result = Invariants(accepted=len(accepted_keys), counts=found,
                        lost=len(set(accepted_keys) - stored))
    if webhook_agencies is None:
        return result
    received = webhook_keys or Counter()
    expected = {TicketMessage.key_for(ticket_id=row[0], channel="webhook", routing_seq=row[1])
                for row in routed if row[2] in webhook_agencies}
    result.webhook_expected = len(expected)
    result.webhook_missing = len(expected - set(received))
    result.webhook_unexpected = len(set(received) - expected)
    result.webhook_requests = sum(received.values())
    result.webhook_repeats = result.webhook_requests - len(received)
    result.webhook_unkeyed = webhook_unkeyed
    return result

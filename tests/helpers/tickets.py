"""A routed ticket made the way the system makes one: an event posted over the API, then
understood and routed in-process as the workers would (no worker needed)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from dispatch.core.runtime import get_runtime
from dispatch.incidents import flows as incident_flows
from dispatch.tickets import flows as ticket_flows
from dispatch.tickets.models import Ticket

NOON = "2024-07-15T12:00:00-05:00"  # a Monday noon in Riverton (CDT)


def make_ticket(client: TestClient, description: str, **extra: Any) -> int:
    """Post an event over the API, then understand and route it as the workers would."""
    body = {"source": "hotline", "description": description, "category_hint": "fallen_tree",
            "lat": 41.62, "lon": -93.65, "occurred_at": NOON, **extra}
    response = client.post("/api/events", json=body)
    assert response.status_code == 202, response.text
    event_id = uuid.UUID(response.json()["id"])
    rt = get_runtime()
    incident_id = incident_flows.understand_event(factory=rt.factory, city=rt.city, chat=None,
                                                  event_id=event_id)
    assert incident_id is not None
    # a redelivered task finds the work done
    assert incident_flows.understand_event(factory=rt.factory, city=rt.city, chat=None,
                                           event_id=event_id) == incident_id
    routed = ticket_flows.route_incident(factory=rt.factory, city=rt.city, chat=None,
                                         incident_id=incident_id)
    assert routed is not None
    ticket_id = routed.ticket_id
    assert routed.routing_seq == 1
    assert ticket_flows.route_incident(factory=rt.factory, city=rt.city, chat=None,
                                       incident_id=incident_id) == routed
    event = client.get(f"/api/events/{event_id}").json()
    assert event["status"] == "processed"
    assert event["ticket_id"] == ticket_id
    return ticket_id


def reroute(ticket_id: int) -> tuple[int, int]:
    """What the route worker does after a rejection: ``(ticket id, routing seq)``."""
    rt = get_runtime()
    with rt.factory() as db:
        ticket = db.get(Ticket, ticket_id)
        assert ticket is not None
        incident_id = ticket.incident_id
    routed = ticket_flows.route_incident(factory=rt.factory, city=rt.city, chat=None,
                                         incident_id=incident_id)
    assert routed is not None and routed.ticket_id == ticket_id
    return routed.ticket_id, routed.routing_seq

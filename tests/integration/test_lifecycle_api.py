"""A ticket's life through the JSON API, with the pipeline steps run in-process (no worker):
every action is recorded in the history, illegal ones are refused with the allowed actions,
a rejection re-routes the ticket elsewhere, and a delivery is recorded once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.config import ApiConfig
from dispatch.core.runtime import get_runtime
from dispatch.delivery import flows as delivery_flows
from dispatch.delivery.models import Delivery
from dispatch.tickets.models import Ticket
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.tickets import make_ticket, reroute
from tests.helpers.webauth import login

ACTOR = "ann"  # the signed-in dispatcher: the API records who is signed in


@pytest.fixture()
def client(migrated_db: str, broker_url: str, clean_state: None) -> Iterator[TestClient]:
    config = ApiConfig(dispatch=make_dispatch_config(migrated_db, broker_url, DOWN_LLM),
                       max_image_bytes=50_000)
    with TestClient(create_app(config)) as test_client:
        login(test_client, ACTOR, role="dispatcher")
        yield test_client


def routing_seq(ticket_id: int) -> int:
    with get_runtime().factory() as db:
        ticket = db.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket.routing_seq


def get(client: TestClient, ticket_id: int) -> dict[str, Any]:
    response = client.get(f"/api/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    return response.json()


def act(client: TestClient, ticket_id: int, action: str, **body: Any) -> Any:
    return client.post(f"/api/tickets/{ticket_id}/{action}", json={"actor": ACTOR, **body})


def act_ok(client: TestClient, ticket_id: int, action: str, **body: Any) -> dict[str, Any]:
    before = get(client, ticket_id)
    response = act(client, ticket_id, action, **body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["action"] == action
    ticket = result["ticket"]
    assert len(ticket["history"]) == len(before["history"]) + 1
    entry = ticket["history"][-1]
    assert entry["actor"] == ACTOR
    assert entry["action"] == action
    assert entry["from_status"] == before["status"]
    assert entry["to_status"] == ticket["status"]
    expected_note = body.get("reason") if action == "reject" else body.get("note")
    assert entry["note"] == expected_note
    assert get(client, ticket_id) == ticket  # what was answered is what is stored
    return ticket


def test_a_ticket_walks_its_lifecycle(client: TestClient) -> None:
    ticket_id = make_ticket(client, "A big branch fell across the sidewalk on Mill Street")
    ticket = get(client, ticket_id)
    assert ticket["status"] == "open"
    assert ticket["agency"] == "landscaping"
    assert ticket["category"] == "fallen_tree"
    assert ticket["district"] == "north_bank"
    assert ticket["routing"]["method"] == "rule"
    assert ticket["routing"]["rule_id"] == "default-fallen-tree"
    assert [h["action"] for h in ticket["history"]] == ["routed"]
    assert ticket["history"][0]["actor"] == "system:router"
    assert ticket["history"][0]["from_status"] is None
    assert ticket["history"][0]["to_status"] == "open"
    assert set(ticket["allowed_actions"]) == {"acknowledge", "start", "reject", "reassign"}

    steps = [("acknowledge", "acknowledged"), ("start", "in_progress"), ("resolve", "resolved"),
             ("reopen", "open"), ("start", "in_progress"), ("resolve", "resolved"),
             ("close", "closed")]
    for action, status in steps:
        ticket = act_ok(client, ticket_id, action, note=f"{action}: done by the crew")
        assert ticket["status"] == status, action
        assert ticket["agency"] == "landscaping"
    assert [h["action"] for h in ticket["history"]] == ["routed", *[a for a, _ in steps]]
    assert ticket["allowed_actions"] == ["reopen"]


def test_resolve_right_after_reopen_needs_a_start(client: TestClient) -> None:
    ticket_id = make_ticket(client, "A big branch fell across the sidewalk on Mill Street")
    for action in ("start", "resolve", "reopen"):
        act_ok(client, ticket_id, action, note=action)
    response = act(client, ticket_id, "resolve", note="again")
    assert response.status_code == 409
    assert "resolve" not in response.json()["allowed_actions"]
    assert "start" in response.json()["allowed_actions"]


def test_illegal_transition_is_409_with_the_allowed_actions(client: TestClient) -> None:
    ticket_id = make_ticket(client, "A big branch fell across the sidewalk on Mill Street")
    before = get(client, ticket_id)
    response = act(client, ticket_id, "close", note="done?")
    assert response.status_code == 409, response.text
    body = response.json()
    assert set(body["allowed_actions"]) == {"acknowledge", "start", "reject", "reassign"}
    assert body["status"] == "open"
    assert "close" in body["detail"]
    assert get(client, ticket_id) == before  # nothing changed, nothing recorded
    response = act(client, ticket_id, "reopen")
    assert response.status_code == 409


def test_action_on_unknown_ticket_is_404(client: TestClient) -> None:
    assert act(client, 999_999, "acknowledge").status_code == 404


def test_action_needs_an_actor(client: TestClient) -> None:
    ticket_id = make_ticket(client, "A big branch fell across the sidewalk on Mill Street")
    response = client.post(f"/api/tickets/{ticket_id}/acknowledge", json={})
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["detail"]] == ["actor"]
    assert get(client, ticket_id)["status"] == "open"


def test_reject_needs_a_reason(client: TestClient) -> None:
    ticket_id = make_ticket(client, "A big branch fell across the sidewalk on Mill Street")
    before = get(client, ticket_id)
    for body in ({}, {"reason": "   "}):
        response = act(client, ticket_id, "reject", **body)
        assert response.status_code == 422, response.text
        assert [d["field"] for d in response.json()["detail"]] == ["reason"]
    assert get(client, ticket_id) == before


def test_rejections_reroute_then_go_to_triage_then_a_dispatcher_reassigns(
    client: TestClient,
) -> None:
    ticket_id = make_ticket(client, "A tree fell on the power lines on Mill Street")
    ticket = get(client, ticket_id)
    assert (ticket["agency"], ticket["routing"]["rule_id"]) == ("public_works", "tree-on-power-line")

    with get_runtime().factory() as db, db.begin():  # a public works colleague had taken it
        row = db.get(Ticket, ticket_id)
        assert row is not None
        row.assignee = "pat"
    # 1st rejection: the ticket waits for the router, then goes to another agency
    ticket = act_ok(client, ticket_id, "reject", reason="not our lines, the tree is the job")
    assert ticket["status"] == "rejected"
    assert ticket["agency"] == "public_works"
    assert ticket["rejected_by"] == ["public_works"]
    assert ticket["allowed_actions"] == ["reassign"]
    assert ticket["history"][-1]["data"]["rejected_by"] == "public_works"
    assert reroute(ticket_id) == (ticket_id, 2)
    ticket = get(client, ticket_id)
    assert ticket["status"] == "open"
    assert ticket["agency"] not in (None, "public_works")
    assert ticket["agency"] == "landscaping"
    assert ticket["routing"]["rule_id"] == "default-fallen-tree"
    assert ticket["routing"]["excluded_agencies"] == ["public_works"]
    entry = ticket["history"][-1]
    assert entry["action"] == "rerouted"
    assert entry["actor"] == "system:router"
    assert (entry["from_status"], entry["to_status"]) == ("rejected", "open")
    assert entry["data"]["excluded_agencies"] == ["public_works"]
    assert entry["agency"] == "landscaping"
    assert ticket["assignee"] is None and entry["data"]["unassigned"] == "pat"
    assert "unassigned" not in ticket["routing"]
    # a redelivered route task changes nothing
    assert reroute(ticket_id) == (ticket_id, 2)
    assert len(get(client, ticket_id)["history"]) == len(ticket["history"])

    # 2nd rejection (max_rejections is 2): a dispatcher decides
    ticket = act_ok(client, ticket_id, "reject", reason="power company has to cut it first")
    assert ticket["rejected_by"] == ["public_works", "landscaping"]
    assert reroute(ticket_id) == (ticket_id, 3)
    ticket = get(client, ticket_id)
    assert ticket["status"] == "triage"
    assert ticket["agency"] is None
    assert ticket["needs_triage"] is True
    assert ticket["routing"]["method"] == "triage"
    assert "2" in ticket["routing"]["reason"]
    assert ticket["routing"]["excluded_agencies"] == ["landscaping", "public_works"]
    assert ticket["history"][-1]["action"] == "rerouted"
    assert ticket["history"][-1]["to_status"] == "triage"
    assert ticket["allowed_actions"] == ["reassign"]
    listed = client.get("/api/tickets", params={"triage": "true"}).json()["items"]
    assert ticket_id in [t["id"] for t in listed]

    # reassign needs a known agency
    response = act(client, ticket_id, "reassign", note="to the cleanup crew")
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["detail"]] == ["agency"]
    response = act(client, ticket_id, "reassign", agency="ghostbusters")
    assert response.status_code == 422
    item = response.json()["detail"][0]
    assert item["field"] == "agency"
    assert "ghostbusters" in item["message"] and "sanitation" in item["message"]
    assert get(client, ticket_id)["status"] == "triage"

    ticket = act_ok(client, ticket_id, "reassign", agency="sanitation", note="debris cleanup")
    assert ticket["status"] == "open"
    assert ticket["agency"] == "sanitation"
    assert ticket["needs_triage"] is False
    assert ticket["routing"]["method"] == "manual"
    assert ticket["routing"]["agency"] == "sanitation"
    assert ticket["routing"]["by"] == ACTOR
    assert ticket["history"][-1]["data"] == {"from_agency": None, "to_agency": "sanitation"}
    listed = client.get("/api/tickets", params={"agency": "sanitation"}).json()["items"]
    assert [t["id"] for t in listed] == [ticket_id]
    assert client.get("/api/tickets", params={"agency": "landscaping"}).json()["items"] == []
    assert routing_seq(ticket_id) == 4


def test_first_rejection_without_another_rule_goes_to_triage(client: TestClient) -> None:
    ticket_id = make_ticket(client, "A big branch fell across the sidewalk on Mill Street")
    act_ok(client, ticket_id, "reject", reason="this is private land")
    reroute(ticket_id)
    ticket = get(client, ticket_id)
    # no rule for another agency, and no LLM to choose one: a dispatcher decides
    assert ticket["status"] == "triage"
    assert ticket["agency"] is None
    assert ticket["routing"]["excluded_agencies"] == ["landscaping"]


def test_reassign_an_active_ticket(client: TestClient) -> None:
    ticket_id = make_ticket(client, "A big branch fell across the sidewalk on Mill Street")
    act_ok(client, ticket_id, "acknowledge", note="seen")
    with get_runtime().factory() as db, db.begin():  # a landscaping colleague had taken it
        row = db.get(Ticket, ticket_id)
        assert row is not None
        row.assignee = "lee"
    ticket = act_ok(client, ticket_id, "reassign", agency="urban_admin", note="bikes, not trees")
    assert (ticket["status"], ticket["agency"]) == ("open", "urban_admin")
    assert ticket["assignee"] is None  # lee cannot see it any more; urban_admin picks someone
    assert ticket["history"][-1]["data"] == {"from_agency": "landscaping",
                                             "to_agency": "urban_admin", "unassigned": "lee"}
    act_ok(client, ticket_id, "start", note="s")
    act_ok(client, ticket_id, "resolve", note="r")
    act_ok(client, ticket_id, "close", note="c")
    response = act(client, ticket_id, "reassign", agency="sanitation")
    assert response.status_code == 409
    assert response.json()["allowed_actions"] == ["reopen"]


def test_a_delivery_is_recorded_once(client: TestClient) -> None:
    ticket_id = make_ticket(client, "A big branch fell across the sidewalk on Mill Street")
    factory = get_runtime().factory
    seq = routing_seq(ticket_id)
    assert delivery_flows.record_inbox_delivery(factory=factory, ticket_id=ticket_id, routing_seq=seq) is True
    assert delivery_flows.record_inbox_delivery(factory=factory, ticket_id=ticket_id, routing_seq=seq) is False
    history = get(client, ticket_id)["history"]
    delivered = [h for h in history if h["action"] == "delivered"]
    assert len(delivered) == 1
    assert delivered[0]["agency"] == "landscaping"
    assert delivered[0]["data"]["routing_seq"] == seq
    with factory() as db:
        rows = list(db.scalars(select(Delivery).where(Delivery.ticket_id == ticket_id)))
    assert [(d.agency, d.routing_seq) for d in rows] == [("landscaping", seq)]

    # after a reassignment, the old routing is stale and the new one is delivered once
    act_ok(client, ticket_id, "reassign", agency="sanitation", note="n")
    new_seq = routing_seq(ticket_id)
    assert new_seq == seq + 1
    assert delivery_flows.record_inbox_delivery(factory=factory, ticket_id=ticket_id, routing_seq=seq) is False
    assert delivery_flows.record_inbox_delivery(factory=factory, ticket_id=ticket_id, routing_seq=new_seq) is True
    assert delivery_flows.record_inbox_delivery(factory=factory, ticket_id=ticket_id, routing_seq=new_seq) is False
    delivered = [h for h in get(client, ticket_id)["history"] if h["action"] == "delivered"]
    assert [(h["agency"], h["data"]["routing_seq"]) for h in delivered] == [
        ("landscaping", seq), ("sanitation", new_seq)]


def test_a_triage_ticket_is_not_delivered(client: TestClient) -> None:
    ticket_id = make_ticket(client, "A big branch fell across the sidewalk on Mill Street")
    act_ok(client, ticket_id, "reject", reason="private land")
    _, seq = reroute(ticket_id)
    assert get(client, ticket_id)["status"] == "triage"
    factory = get_runtime().factory
    assert delivery_flows.record_inbox_delivery(factory=factory, ticket_id=ticket_id, routing_seq=seq) is False
    assert not [h for h in get(client, ticket_id)["history"] if h["action"] == "delivered"]

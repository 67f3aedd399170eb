"""Corrections teach CityLoop: reassignments become examples, agreeing ones a rule proposal
that only an admin accepts, and an accepted rule routes the next ticket; learned models are
trained, stored with their metrics, and promoted only when not worse."""

from __future__ import annotations

import random

from fastapi.testclient import TestClient
from sqlalchemy import select

from agents.learned import LearnedModelError
from dispatch.core.db import transaction
from dispatch.core.runtime import get_runtime
from dispatch.learning.corrections import PROPOSAL_MIN_CORRECTIONS
from dispatch.learning.current import CurrentModels
from dispatch.learning.models import LearnedModelRecord, RuleProposal, TrainingExample
from dispatch.learning.training import Example, train_and_store
from dispatch.tickets.models import Ticket
from tests.helpers.tickets import make_ticket

TREE = "A big branch fell across the sidewalk on Mill Street"


def reassign(client: TestClient, ticket_id: int, agency: str) -> None:
    done = client.post(f"/api/tickets/{ticket_id}/reassign", json={"actor": "x", "agency": agency})
    assert done.status_code == 200, done.text


def decide(client: TestClient, proposal_id: int, decision: str) -> int:
    response = client.post(f"/learning/proposals/{proposal_id}/{decision}",
                           data={"csrf_token": client.headers["X-CSRF-Token"]}, follow_redirects=False)
    return response.status_code


def test_repeated_reassignments_propose_a_rule_only_an_admin_accepts_and_it_routes_at_once(
    clients: dict[str, TestClient],
) -> None:
    anon, dispatcher, admin = clients["anon"], clients["dispatcher"], clients["admin"]
    tickets = [make_ticket(anon, f"{TREE}, number {n}") for n in range(PROPOSAL_MIN_CORRECTIONS)]
    factory = get_runtime().factory
    with factory() as db:
        routed = db.scalars(select(Ticket).where(Ticket.id.in_(tickets))).all()
        assert {t.agency for t in routed} == {"landscaping"}
        district = routed[0].district
    for ticket_id in tickets[:-1]:
        reassign(dispatcher, ticket_id, "public_works")
    with factory() as db:
        examples = db.scalars(select(TrainingExample)).all()
        assert [(e.label, e.wrong_label, e.category) for e in examples] == \
            [("public_works", "landscaping", "fallen_tree")] * (PROPOSAL_MIN_CORRECTIONS - 1)
        assert db.scalars(select(RuleProposal)).all() == []  # not yet enough corrections
    reassign(dispatcher, tickets[-1], "public_works")
    with factory() as db:
        proposal = db.scalars(select(RuleProposal)).one()
        assert (proposal.category, proposal.district, proposal.agency, proposal.status) == \
            ("fallen_tree", district or "", "public_works", "proposed")
        assert proposal.evidence["corrections"] == PROPOSAL_MIN_CORRECTIONS
        assert sorted(proposal.evidence["tickets"]) == sorted(tickets)
    assert "public_works" in admin.get("/learning").text
    assert dispatcher.get("/learning").status_code == 403
    assert decide(dispatcher, proposal.id, "accept") == 403
    assert decide(clients["supervisor"], proposal.id, "accept") == 403
    with factory() as db:
        assert db.get(RuleProposal, proposal.id).status == "proposed"  # type: ignore[union-attr]
    assert decide(admin, proposal.id, "accept") == 303
    after = make_ticket(anon, f"{TREE}, once more")
    with factory() as db:
        ticket = db.get(Ticket, after)
        assert ticket is not None
        assert (ticket.agency, ticket.routing["rule_id"]) == ("public_works", f"learned-{proposal.id}")
    assert decide(admin, proposal.id, "dismiss") != 303  # decided once: it stays accepted
    with factory() as db:
        assert db.get(RuleProposal, proposal.id).status == "accepted"  # type: ignore[union-attr]


def examples(n: int, *, shuffled: bool = False, seed: int = 0) -> list[Example]:
    words = {"sanitation": "garbage trash bags dumped", "drainage": "flooded street water drain",
             "transportation": "pothole in the road asphalt"}
    rng = random.Random(seed)
    out = []
    for i in range(n):
        agency = list(words)[i % 3]
        label = rng.choice(list(words)) if shuffled else agency
        out.append(Example(key=f"k{i}", text=f"{words[agency]} near house {i}", category="other",
                           district=None, agency=label))
    return out


def test_a_new_model_replaces_the_current_one_only_when_not_worse(clients: dict[str, TestClient]) -> None:
    factory = get_runtime().factory
    with transaction(factory) as db:
        first = train_and_store(db_session=db, kind="agency", examples=examples(90), source="good")
    assert first.promoted and first.previous_accuracy is None and first.accuracy == 1.0
    with transaction(factory) as db:
        worse = train_and_store(db_session=db, kind="agency", examples=examples(90, shuffled=True),
                                source="noise")
    assert worse.previous_accuracy is not None and worse.accuracy < worse.previous_accuracy
    assert not worse.promoted
    with transaction(factory) as db:
        same = train_and_store(db_session=db, kind="agency", examples=examples(90), source="again")
    assert same.promoted  # as good as the current one: the newer model wins
    with factory() as db:
        statuses = dict(db.execute(select(LearnedModelRecord.version, LearnedModelRecord.status)).tuples().all())
        assert statuses == {1: "retired", 2: "candidate", 3: "current"}
        stored = db.scalars(select(LearnedModelRecord).where(LearnedModelRecord.version == 3)).one()
        assert stored.training_size + stored.holdout_size == 90
        assert {m["label"] for m in stored.metrics["per_label"]} == {"sanitation", "drainage", "transportation"}
    router = CurrentModels(factory).router()
    assert router is not None and router.version == 3
    page = clients["admin"].get("/learning")
    assert page.status_code == 200 and "per-label-agency" in page.text


def test_too_few_examples_say_why() -> None:
    from sqlalchemy.orm import Session

    try:
        train_and_store(db_session=Session(), kind="agency", examples=examples(2), source="tiny")
    except LearnedModelError as exc:
        assert "too few" in str(exc) or "two different labels" in str(exc)
    else:
        raise AssertionError("two examples trained a model")

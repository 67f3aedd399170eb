"""Staff corrections in the inbox become labelled examples, and repeated ones a rule proposal.

- a reassign teaches the agency the ticket was moved to;
- a rejection naming the right agency (``agency`` on the reject request) teaches that agency;
- a category change (``dispatch.tickets.flows.recategorize``) teaches the new category.

When ``PROPOSAL_MIN_CORRECTIONS`` corrections agree (same category and district, same right
agency), a rule is proposed with its evidence; an admin accepts or dismisses it
(``dispatch.learning.proposals``).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.city.config import CityConfig
from dispatch.incidents.models import Incident
from dispatch.intake.models import Event
from dispatch.learning.models import RuleProposal, TrainingExample
from dispatch.tickets.models import Ticket

PROPOSAL_MIN_CORRECTIONS = 3
_EVIDENCE_TICKETS = 20


def ticket_text(*, db_session: Session, ticket: Ticket) -> str:
    """What the router saw of the ticket: the incident's title and the first report's text."""
    incident = db_session.get(Incident, ticket.incident_id)
    event = db_session.get(Event, incident.origin_event_id) if incident is not None else None
    return f"{ticket.title}. {event.text}" if event is not None else ticket.title


def record_correction(
    *, db_session: Session, city: CityConfig, ticket: Ticket, action: str, actor: str,
    wrong_agency: str | None, right_agency: str | None,
) -> TrainingExample | None:
    """The labelled example an action teaches (None when it teaches nothing), in the caller's
    transaction; a rule proposal is opened or updated when enough corrections agree."""
    if action == "reassign":
        right = ticket.agency
    elif action == "reject" and right_agency and city.agency(right_agency) is not None:
        right = right_agency
    else:
        return None
    if right is None or right == wrong_agency:
        return None
    example = TrainingExample(
        kind="agency", ticket_id=ticket.id, text=ticket_text(db_session=db_session, ticket=ticket),
        category=ticket.category, district=ticket.district, label=right, wrong_label=wrong_agency,
        actor=actor)
    db_session.add(example)
    db_session.flush()
    _update_proposal(db_session=db_session, example=example)
    return example


def record_category_correction(
    *, db_session: Session, ticket: Ticket, actor: str, wrong_category: str, right_category: str,
) -> TrainingExample | None:
    """A category change in the inbox: the ticket's text labelled with the right category,
    beside the category it was filed under (None when the two are the same)."""
    if right_category == wrong_category:
        return None
    example = TrainingExample(
        kind="category", ticket_id=ticket.id, text=ticket_text(db_session=db_session, ticket=ticket),
        category=right_category, district=ticket.district, label=right_category,
        wrong_label=wrong_category, actor=actor)
    db_session.add(example)
    db_session.flush()
    return example


def _update_proposal(*, db_session: Session, example: TrainingExample) -> None:
    district = example.district or ""
    same = (TrainingExample.kind == "agency", TrainingExample.category == example.category,
            func.coalesce(TrainingExample.district, "") == district,
            TrainingExample.label == example.label)
    count = int(db_session.scalar(select(func.count()).select_from(TrainingExample).where(*same)) or 0)
    if count < PROPOSAL_MIN_CORRECTIONS:
        return
    tickets = list(db_session.scalars(select(TrainingExample.ticket_id).where(*same)
                                      .order_by(TrainingExample.id.desc()).limit(_EVIDENCE_TICKETS)))
    wrong = dict(db_session.execute(
        select(TrainingExample.wrong_label, func.count()).where(*same)
        .group_by(TrainingExample.wrong_label)).tuples().all())
    evidence = {"corrections": count, "tickets": [t for t in tickets if t is not None],
                "from_agencies": {str(k or "triage"): v for k, v in wrong.items()},
                "last_actor": example.actor}
    proposal = db_session.scalar(select(RuleProposal).where(
        RuleProposal.category == example.category, RuleProposal.district == district,
        RuleProposal.agency == example.label))
    if proposal is None:
        db_session.add(RuleProposal(category=example.category or "", district=district,
                                    agency=example.label, status="proposed", evidence=evidence))
    elif proposal.status == "proposed":
        proposal.evidence = evidence

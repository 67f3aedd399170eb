"""Retraining: the imported history (or a file's examples) plus every correction → new models.

One transaction per kind; a kind whose examples cannot train a model is reported and skipped.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from agents.learned import LearnedModelError
from dispatch.accounts.models import User
from dispatch.city.config import CityConfig
from dispatch.core.db import transaction
from dispatch.learning.proposals import decide
from dispatch.learning.training import (
    KINDS,
    Example,
    Kind,
    TrainOutcome,
    examples_from_corrections,
    examples_from_history,
    train_and_store,
)


def retrain(
    *, factory: sessionmaker[Session], city: CityConfig, examples: list[Example] | None = None,
    kinds: tuple[Kind, ...] = KINDS, source: str = "history",
) -> dict[str, TrainOutcome | str]:
    """Train each kind on ``examples`` (default: the imported history) and the corrections;
    each kind's outcome, or why it was not trained."""
    with factory() as db:
        base = examples if examples is not None else examples_from_history(db_session=db, city=city)
        corrections = examples_from_corrections(db_session=db)
    results: dict[str, TrainOutcome | str] = {}
    for kind in kinds:
        try:
            with transaction(factory) as db:
                results[kind] = train_and_store(db_session=db, kind=kind, examples=[*base, *corrections],
                                                source=f"{source} + {len(corrections)} corrections")
        except LearnedModelError as exc:
            results[kind] = str(exc)
    return results


def decide_proposal(*, db_session: Session, user: User, proposal_id: int, accept: bool) -> None:
    """An admin accepts or dismisses a rule proposal; an accepted rule routes the next ticket
    (``route_incident`` reads the accepted rules in its transaction). ``db_session`` must not be
    in a transaction: this flow owns it. Raises AccessDenied for anyone but an admin."""
    with db_session.begin():
        decide(db_session=db_session, user=user, proposal_id=proposal_id, accept=accept)

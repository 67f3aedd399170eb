"""Rule proposals from repeated corrections: listed, accepted or dismissed by an admin.

Accepted proposals are an overlay on the city file: each becomes a routing rule
(``learned-<id>``: category, district when one was given → agency) placed before the file's
own rules, applied by every routing from the moment it is accepted (``with_accepted_rules``),
and written into the merged YAML by ``cityloop city export``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.accounts.models import User
from dispatch.city.config import CityConfig, RoutingRule
from dispatch.core.errors import InvalidField, NotFound
from dispatch.learning.models import RuleProposal
from dispatch.tickets.access import AccessDenied


def proposals(*, db_session: Session, status: str | None = None) -> list[RuleProposal]:
    query = select(RuleProposal).order_by(RuleProposal.id)
    if status is not None:
        query = query.where(RuleProposal.status == status)
    return list(db_session.scalars(query))


def decide(*, db_session: Session, user: User, proposal_id: int, accept: bool) -> RuleProposal:
    """Accept or dismiss a proposal (admins only), in the caller's transaction."""
    if user.role != "admin":
        raise AccessDenied(f"the role {user.role!r} may not decide on rule proposals; admins do")
    proposal = db_session.get(RuleProposal, proposal_id, with_for_update=True)
    if proposal is None:
        raise NotFound("rule proposal", proposal_id)
    if proposal.status != "proposed":
        raise InvalidField("proposal", f"already {proposal.status}")
    proposal.status = "accepted" if accept else "dismissed"
    proposal.decided_by, proposal.decided_at = user.username, datetime.now(UTC)
    return proposal


def overlay_rules(city: CityConfig, accepted: list[RuleProposal]) -> list[RoutingRule]:
    """The accepted proposals that still fit the city file, as routing rules."""
    districts = {d.code for d in city.district_list}
    return [
        RoutingRule(id=f"learned-{p.id}", agency=p.agency, categories=[p.category],
                    districts=[p.district] if p.district else [])
        for p in accepted
        if city.agency(p.agency) is not None and city.category(p.category) is not None
        and (not p.district or p.district in districts)
    ]


def with_rules(city: CityConfig, rules: list[RoutingRule]) -> CityConfig:
    if not rules:
        return city
    routing = city.routing.model_copy(update={"rules": [*rules, *city.routing.rules]})
    return city.model_copy(update={"routing": routing})


def with_accepted_rules(*, db_session: Session, city: CityConfig) -> CityConfig:
    """The city with its accepted rule proposals placed before the file's own rules."""
    return with_rules(city, overlay_rules(city, proposals(db_session=db_session, status="accepted")))


def merged_city(data: dict[str, Any], rules: list[RoutingRule]) -> dict[str, Any]:
    """The city file's mapping with ``rules`` placed first in ``routing.rules``."""
    routing = dict(data.get("routing") or {})
    own = list(routing.get("rules") or [])
    routing["rules"] = [rule.model_dump(exclude_defaults=True) for rule in rules] + own
    return {**data, "routing": routing}

"""Routing rules: category x district x time x keywords -> agency. The first match decides.

Precedence, for every ticket (``dispatch.tickets.flows``):

1. ``routing.rules``, in order (rules accepted from correction proposals come first, then the
   city file's own); the first that matches decides (method ``rule``);
2. the category's ``default_agency`` when no rule matches (method ``default``);
3. the learned router, when a current model is trained and sure enough (method ``learned``);
4. the LLM among the remaining agencies, above ``llm_confidence_threshold`` (method ``llm``);
5. otherwise triage: a dispatcher decides.

An agency that already rejected the ticket is skipped at every step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from agents.text import keywords_in
from dispatch.city.config import WEEKDAYS, CityConfig, RoutingRule
from dispatch.i18n import explain


class RoutingInput(BaseModel):
    category: str
    district: str | None
    text: str
    at: datetime  # when the event happened (or was received), timezone-aware


class RuleMatch(BaseModel):
    rule_id: str
    agency: str


RoutingMethod = Literal["rule", "default", "learned", "llm", "triage", "manual"]


class RoutingDecision(BaseModel):
    """Why a ticket went to its agency (or to triage); stored on the ticket as JSON.

    ``agency`` is None exactly when the ticket waits in triage. An LLM's choice below the
    confidence threshold is kept as ``llm_choice`` beside the triage decision.
    """

    model_config = ConfigDict(extra="forbid")

    method: RoutingMethod
    agency: str | None
    reason: str
    rule_id: str | None = None
    llm_choice: str | None = None
    confidence: float | None = None
    rationale: str | None = None
    prompt_version: str | None = None
    model: str | None = None
    by: str | None = None
    excluded_agencies: list[str] | None = None

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def _keyword_hit(keywords: list[str], text: str) -> bool:
    """Any keyword in ``text``, by the one keyword rule (CJK keywords inside unspaced text)."""
    return bool(keywords_in(text, keywords))


def rule_matches(rule: RoutingRule, item: RoutingInput, tz: ZoneInfo) -> bool:
    """A rule without a condition on a field ignores that field. A district condition
    never matches an event without a location: such events use the non-spatial rules."""
    if rule.categories and item.category not in rule.categories:
        return False
    if rule.districts and item.district not in rule.districts:
        return False
    local = item.at.astimezone(tz)
    if rule.weekdays and WEEKDAYS[local.weekday()] not in rule.weekdays:
        return False
    if rule.hours is not None and not rule.hours.contains(local.time()):
        return False
    return not rule.keywords or _keyword_hit(rule.keywords, item.text)


def match_rule(
    city: CityConfig, item: RoutingInput, *, exclude: frozenset[str] = frozenset()
) -> RuleMatch | None:
    tz = ZoneInfo(city.city.timezone)
    for rule in city.routing.rules:
        if rule.agency in exclude:
            continue
        if rule_matches(rule, item, tz):
            return RuleMatch(rule_id=rule.id, agency=rule.agency)
    return None


def route_by_config(
    city: CityConfig, item: RoutingInput, *, exclude: frozenset[str] = frozenset()
) -> RoutingDecision | None:
    """Steps 1 and 2 of the precedence: a matching rule, else the category's default agency."""
    match = match_rule(city, item, exclude=exclude)
    if match is not None:
        return RoutingDecision(method="rule", rule_id=match.rule_id, agency=match.agency,
                               reason=explain.RULE_MATCHED(rule=match.rule_id))
    category = city.category(item.category)
    if category is not None and category.default_agency and category.default_agency not in exclude:
        return RoutingDecision(method="default", agency=category.default_agency,
                               reason=explain.DEFAULT_AGENCY(category=category.code))
    return None

"""Routing rules: category x district x time x keywords -> agency. The first match decides."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from dispatch.city.config import WEEKDAYS, CityConfig, RoutingRule


class RoutingInput(BaseModel):
    category: str
    district: str | None
    text: str
    at: datetime  # when the event happened (or was received), timezone-aware


class RuleMatch(BaseModel):
    rule_id: str
    agency: str


RoutingMethod = Literal["rule", "llm", "triage", "manual"]


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
    lowered = text.lower()
    return any(re.search(rf"\b{re.escape(k.lower())}\b", lowered) for k in keywords)


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

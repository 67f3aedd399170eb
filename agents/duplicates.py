"""Duplicate judge: does a new event describe an incident we already have?

Distance, time and text similarity decide the clear cases; the LLM is asked a
constrained yes/no question only about borderline pairs, and only when a chat
model is given. Anything unclear without an LLM stays a separate incident: a
dispatcher can merge two tickets, but an event hidden inside the wrong incident
is easy to miss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from langchain_core.language_models.chat_models import BaseChatModel
from pydantic import BaseModel, Field, ValidationError

from agents.embeddings import cosine
from agents.errors import LLMUnavailable
from agents.llm import model_name, structured_call
from agents.prompts import DUPLICATE_PROMPT_VERSION, duplicate_messages

EARTH_RADIUS_M = 6_371_008.8


def N_(message: str) -> str:  # noqa: N802 - the gettext mark Babel extracts (see babel.cfg)
    """Marks a reason template for the message catalog; ``dispatch.i18n.explain`` reads the
    stored reason back and shows it in the reader's language."""
    return message


NO_COORDINATES = N_("no coordinates to compare")
TOO_FAR = N_("%(distance).0f m apart (limit %(limit).0f m)")
TOO_LATE = N_("%(hours).1f h apart (limit %(limit).0f h)")
NEAR_IDENTICAL = N_("%(distance).0f m apart, near-identical text (%(similarity).2f)")
OTHER_CATEGORY = N_("%(distance).0f m apart, different categories")
SAME_SPOT = N_("same category %(distance).0f m apart")
NO_VECTORS = N_("same category %(distance).0f m apart, no text vectors")
TOO_DISSIMILAR = N_("%(distance).0f m apart, text similarity %(similarity).2f too low")
SIMILAR_TEXT = N_("same category %(distance).0f m apart, text similarity %(similarity).2f")
NO_CANDIDATE = N_("no candidate close enough")
NO_LLM_TO_ASK = N_("borderline; no LLM to ask")
LLM_UNAVAILABLE_REASON = N_("borderline; LLM unavailable")
LLM_SAME = N_("LLM: same problem (%(why)s)")
LLM_DIFFERENT = N_("LLM: different problems")
REASONS: tuple[str, ...] = (
    NO_COORDINATES, TOO_FAR, TOO_LATE, NEAR_IDENTICAL, OTHER_CATEGORY, SAME_SPOT, NO_VECTORS,
    TOO_DISSIMILAR, SIMILAR_TEXT, NO_CANDIDATE, NO_LLM_TO_ASK, LLM_UNAVAILABLE_REASON, LLM_SAME,
    LLM_DIFFERENT)
"""Every reason a verdict or pair assessment gives, as a template filled with ``%``."""
_DUPLICATE_MAX_TOKENS = 40
_DUPLICATE_SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {"same_problem": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["same_problem"],
    "additionalProperties": False,
}


class DuplicatePolicy(BaseModel):
    """Thresholds of the judge; the defaults are for street-level problems."""

    max_distance_m: float = Field(default=150.0, gt=0)
    window_hours: float = Field(default=48.0, gt=0)
    # Same category: similar text merges, dissimilar text never does, between is borderline.
    same_category_merge: float = Field(default=0.5, ge=-1, le=1)
    reject_below: float = Field(default=0.25, ge=-1, le=1)
    # Same category at the same spot merges unless the text is clearly different.
    same_spot_m: float = Field(default=50.0, ge=0)
    # Different categories merge only on near-identical text; otherwise they stay apart.
    cross_category_merge: float = Field(default=0.8, ge=-1, le=1)
    max_llm_questions: int = Field(default=2, ge=0)


class Sighting(BaseModel):
    """What the judge knows about an event or an incident."""

    text: str
    category: str
    lat: float | None = None
    lon: float | None = None
    at: datetime
    embedding: list[float] | None = None


class Candidate(Sighting):
    incident_id: str


class PairAssessment(BaseModel):
    """The judge's view of one (event, incident) pair."""

    incident_id: str
    distance_m: float | None
    hours_apart: float
    similarity: float | None
    same_category: bool
    decision: Literal["merge", "separate", "borderline"]
    reason: str


class DuplicateVerdict(BaseModel):
    """Merge into ``incident_id``, or ``None`` for a new incident; and how that was decided."""

    incident_id: str | None
    method: Literal["rules", "llm", "none"]
    reason: str
    assessments: list[PairAssessment] = Field(default_factory=list)
    prompt_version: str | None = None
    model: str | None = None
    llm_error: str | None = None


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def assess(event: Sighting, candidate: Candidate, policy: DuplicatePolicy) -> PairAssessment:
    """Distance and time gate, then category and text similarity: merge, separate or borderline."""
    distance = None
    if None not in (event.lat, event.lon, candidate.lat, candidate.lon):
        distance = haversine_m(event.lat, event.lon, candidate.lat, candidate.lon)  # type: ignore[arg-type]
    hours = abs((event.at - candidate.at).total_seconds()) / 3600
    similarity = None
    if event.embedding is not None and candidate.embedding is not None:
        similarity = round(cosine(event.embedding, candidate.embedding), 4)
    same = event.category == candidate.category

    def verdict(decision: Literal["merge", "separate", "borderline"], reason: str) -> PairAssessment:
        return PairAssessment(incident_id=candidate.incident_id, distance_m=distance,
                              hours_apart=round(hours, 2), similarity=similarity,
                              same_category=same, decision=decision, reason=reason)

    if distance is None:
        return verdict("separate", NO_COORDINATES)
    if distance > policy.max_distance_m:
        return verdict("separate", TOO_FAR % {"distance": distance, "limit": policy.max_distance_m})
    if hours > policy.window_hours:
        return verdict("separate", TOO_LATE % {"hours": hours, "limit": policy.window_hours})
    where: dict[str, float] = {"distance": distance}
    if not same:
        if similarity is not None and similarity >= policy.cross_category_merge:
            return verdict("merge", NEAR_IDENTICAL % {**where, "similarity": similarity})
        return verdict("separate", OTHER_CATEGORY % where)
    if similarity is None:
        if distance <= policy.same_spot_m:
            return verdict("merge", SAME_SPOT % where)
        return verdict("borderline", NO_VECTORS % where)
    if similarity < policy.reject_below:
        return verdict("separate", TOO_DISSIMILAR % {**where, "similarity": similarity})
    if similarity >= policy.same_category_merge or distance <= policy.same_spot_m:
        return verdict("merge", SIMILAR_TEXT % {**where, "similarity": similarity})
    return verdict("borderline", SIMILAR_TEXT % {**where, "similarity": similarity})


def judge(
    event: Sighting,
    candidates: Sequence[Candidate],
    *,
    chat: BaseChatModel | None,
    policy: DuplicatePolicy | None = None,
) -> DuplicateVerdict:
    """The incident the event belongs to, if any; never raises LLMUnavailable.

    A clear merge picks the closest such incident. Otherwise the most similar
    borderline pairs (at most ``max_llm_questions``) go to the LLM one by one.
    """
    policy = policy or DuplicatePolicy()
    assessments = [assess(event, candidate, policy) for candidate in candidates]
    merges = [a for a in assessments if a.decision == "merge"]
    if merges:
        best = min(merges, key=lambda a: (a.distance_m or 0.0, -(a.similarity or 0.0)))
        return DuplicateVerdict(incident_id=best.incident_id, method="rules",
                                reason=best.reason, assessments=assessments)
    borderline = sorted((a for a in assessments if a.decision == "borderline"),
                        key=lambda a: (-(a.similarity or 0.0), a.distance_m or 0.0))
    if not borderline or chat is None or policy.max_llm_questions == 0:
        why = NO_CANDIDATE if not borderline else NO_LLM_TO_ASK
        return DuplicateVerdict(incident_id=None, method="none", reason=why,
                                assessments=assessments)
    by_id = {c.incident_id: c for c in candidates}
    for pair in borderline[: policy.max_llm_questions]:
        try:
            same = ask_llm(chat, event=event, candidate=by_id[pair.incident_id])
        except LLMUnavailable as exc:
            return DuplicateVerdict(incident_id=None, method="none", llm_error=str(exc),
                                    reason=LLM_UNAVAILABLE_REASON,
                                    assessments=assessments)
        if same:
            return DuplicateVerdict(incident_id=pair.incident_id, method="llm",
                                    reason=LLM_SAME % {"why": pair.reason},
                                    assessments=assessments,
                                    prompt_version=DUPLICATE_PROMPT_VERSION,
                                    model=model_name(chat))
    return DuplicateVerdict(incident_id=None, method="llm", reason=LLM_DIFFERENT,
                            assessments=assessments, prompt_version=DUPLICATE_PROMPT_VERSION,
                            model=model_name(chat))


class _LLMAnswer(BaseModel):
    same_problem: Literal["yes", "no"]


def ask_llm(chat: BaseChatModel, *, event: Sighting, candidate: Candidate) -> bool:
    """One constrained yes/no question; raises LLMUnavailable."""
    data = structured_call(
        chat,
        messages=duplicate_messages(
            report=event.text, existing=candidate.text,
            fact_lines=[f"New report category: {event.category}",
                        f"Existing incident category: {candidate.category}"]),
        schema_name="duplicate_check",
        json_schema=_DUPLICATE_SCHEMA,
        max_tokens=_DUPLICATE_MAX_TOKENS,
    )
    try:
        return _LLMAnswer.model_validate(data).same_problem == "yes"
    except ValidationError as exc:
        raise LLMUnavailable(f"LLM duplicate answer failed validation: {exc.error_count()} "
                             "error(s)") from exc

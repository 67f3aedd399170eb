"""Routing fallback: the LLM picks one configured agency when no rule decides."""

from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from pydantic import BaseModel, Field, ValidationError

from agents.errors import LLMUnavailable
from agents.llm import model_name, structured_call
from agents.prompts import ROUTE_PROMPT_VERSION, route_messages

RATIONALE_MAX = 500
_ROUTE_MAX_TOKENS = 150
_CONFIDENCE_STEPS: tuple[int, ...] = tuple(range(0, 101, 10))


class AgencySpec(BaseModel):
    """An agency the LLM may choose, as the router sees it."""

    code: str
    name: str
    description: str = ""
    categories: list[str] = Field(default_factory=list)


class AgencyChoice(BaseModel):
    """The agency the LLM chose, why, and which model and prompt chose it."""

    agency: str
    rationale: str = Field(max_length=RATIONALE_MAX)
    confidence: float = Field(ge=0.0, le=1.0)
    prompt_version: str
    model: str


class _LLMAnswer(BaseModel):
    agency: str
    rationale: str
    confidence: int


def _route_schema(codes: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "agency": {"type": "string", "enum": codes},
            "rationale": {"type": "string", "maxLength": 300},
            "confidence": {"type": "integer", "enum": list(_CONFIDENCE_STEPS)},
        },
        "required": ["agency", "rationale", "confidence"],
        "additionalProperties": False,
    }


def _agency_line(spec: AgencySpec) -> str:
    details = [spec.description] if spec.description else []
    if spec.categories:
        details.append("handles: " + ", ".join(spec.categories))
    suffix = ": " + "; ".join(details) if details else ""
    return f"- {spec.code} ({spec.name}){suffix}"


def choose_agency(
    chat: BaseChatModel, *, text: str, category: str, agencies: list[AgencySpec]
) -> AgencyChoice:
    """Ask the LLM which configured agency should handle the report.

    The answer is constrained to the configured codes by the request's JSON schema
    and checked again; raises LLMUnavailable when no valid choice comes back.
    """
    if not agencies:
        raise LLMUnavailable("no agencies configured to choose from")
    codes = [spec.code for spec in agencies]
    data = structured_call(
        chat,
        messages=route_messages(
            report=text, category=category, agency_lines=[_agency_line(a) for a in agencies]
        ),
        schema_name="agency_choice",
        json_schema=_route_schema(codes),
        max_tokens=_ROUTE_MAX_TOKENS,
    )
    try:
        answer = _LLMAnswer.model_validate(data)
    except ValidationError as exc:
        raise LLMUnavailable(
            f"LLM agency choice failed validation: {exc.error_count()} error(s)"
        ) from exc
    if answer.agency not in codes:
        raise LLMUnavailable(f"LLM returned unknown agency {answer.agency[:40]!r}")
    rationale = " ".join(answer.rationale.split())[:RATIONALE_MAX]
    return AgencyChoice(
        agency=answer.agency,
        rationale=rationale,
        confidence=min(max(answer.confidence, 0), 100) / 100,
        prompt_version=ROUTE_PROMPT_VERSION,
        model=model_name(chat),
    )

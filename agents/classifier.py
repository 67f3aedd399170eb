"""Event classifier: hint, keywords, embedding similarity, then a schema-constrained LLM call."""

import re
from typing import Literal

from langchain_core.language_models.chat_models import BaseChatModel
from pydantic import BaseModel, Field, ValidationError

from agents.embeddings import Embedder, Vector, label_scores
from agents.errors import LLMUnavailable
from agents.llm import model_name, structured_call
from agents.prompts import CLASSIFY_PROMPT_VERSION, classify_messages
from agents.safety import detect_injection

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
KEYWORD_THRESHOLD = 0.6
# Measured with `cityloop eval classifier` (all-MiniLM-L6-v2, data/city_events.csv).
EMBEDDING_MIN_SCORE = 0.35
EMBEDDING_MIN_MARGIN = 0.03
_CLASSIFY_MAX_TOKENS = 60
# An enum rather than minimum/maximum: llama-cpp-python's grammar ignores numeric bounds.
CONFIDENCE_STEPS: tuple[int, ...] = tuple(range(0, 101, 10))


class CategorySpec(BaseModel):
    """A category the city handles, as the classifier sees it."""

    code: str
    name: str
    description: str = ""
    keywords: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)


Method = Literal["hint", "keywords", "embedding", "llm", "fallback"]


class Classification(BaseModel):
    """The classifier's answer and how it was reached."""

    category: str
    severity: Severity
    confidence: float = Field(ge=0.0, le=1.0)
    method: Method
    prompt_version: str | None
    model: str | None
    flags: list[str] = Field(default_factory=list)
    llm_error: str | None = None


class _LLMAnswer(BaseModel):
    category: str
    severity: Severity
    confidence: int = Field(ge=0, le=100)


def _word_pattern(word: str) -> str:
    """A regex for one keyword word that also matches its simple plural/singular."""
    lowered = word.lower()
    if lowered.endswith("y") and len(lowered) > 2:
        return re.escape(lowered[:-1]) + "(?:y|ies)"
    if lowered.endswith("s") and not lowered.endswith("ss") and len(lowered) > 3:
        return re.escape(lowered[:-1]) + "(?:s|es)?"
    return re.escape(lowered) + "(?:s|es)?"


def _keyword_regex(keyword: str) -> re.Pattern[str] | None:
    words = keyword.split()
    if not words:
        return None
    body = r"[\s\-]+".join(_word_pattern(word) for word in words)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def _keyword_score(text: str, keywords: list[str]) -> int:
    patterns = (_keyword_regex(keyword) for keyword in set(keywords))
    return sum(1 for pattern in patterns if pattern is not None and pattern.search(text))


def classify_keywords(text: str, categories: list[CategorySpec]) -> tuple[str, float] | None:
    """Best category by matched keyword count, or ``None`` when nothing or a tie matches.

    Confidence is 0.6 for one matched keyword and 0.8 for two or more, less 0.1
    when another category also matched (with fewer keywords).
    """
    scores = sorted(
        ((_keyword_score(text, spec.keywords), spec.code) for spec in categories),
        reverse=True,
    )
    if not scores or scores[0][0] == 0:
        return None
    best_score, best_code = scores[0]
    runner_up = scores[1][0] if len(scores) > 1 else 0
    if runner_up == best_score:
        return None
    confidence = 0.6 if best_score == 1 else 0.8
    if runner_up > 0:
        confidence -= 0.1
    return best_code, round(confidence, 2)


def _classify_schema(codes: list[str]) -> dict[str, object]:
    return {
        "type": "object",
        "properties": {
            "category": {"type": "string", "enum": codes},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "confidence": {"type": "integer", "enum": list(CONFIDENCE_STEPS)},
        },
        "required": ["category", "severity", "confidence"],
        "additionalProperties": False,
    }


def _category_line(spec: CategorySpec) -> str:
    description = f": {spec.description}" if spec.description else ""
    return f"- {spec.code} ({spec.name}){description}"


def classify_llm(
    chat: BaseChatModel,
    *,
    text: str,
    categories: list[CategorySpec],
    fallback_code: str,
) -> tuple[str, Severity, float, str]:
    """Ask the LLM for (category, severity, confidence, model); raises LLMUnavailable.

    The category is constrained to the configured codes (plus ``fallback_code``)
    by the request's JSON schema and checked again on the answer.
    """
    codes = [spec.code for spec in categories]
    if fallback_code not in codes:
        codes.append(fallback_code)
    lines = [_category_line(spec) for spec in categories]
    if fallback_code not in {spec.code for spec in categories}:
        lines.append(f"- {fallback_code} (none of the above)")
    data = structured_call(
        chat,
        messages=classify_messages(report=text, category_lines=lines),
        schema_name="classification",
        json_schema=_classify_schema(codes),
        max_tokens=_CLASSIFY_MAX_TOKENS,
    )
    try:
        answer = _LLMAnswer.model_validate(data)
    except ValidationError as exc:
        raise LLMUnavailable(
            f"LLM classification failed validation: {exc.error_count()} error(s)"
        ) from exc
    if answer.category not in codes:
        raise LLMUnavailable(f"LLM returned unknown category {answer.category[:40]!r}")
    return answer.category, answer.severity, answer.confidence / 100, model_name(chat)


def category_texts(spec: CategorySpec) -> list[str]:
    """What the embedding stage compares a report with: name and description, examples."""
    head = f"{spec.name}: {spec.description}" if spec.description else spec.name
    return [head, *spec.examples]


def classify_embedding(
    embedder: Embedder,
    *,
    text: str,
    categories: list[CategorySpec],
    fallback_code: str = "other",
    text_vector: Vector | None = None,
) -> tuple[str, float, float] | None:
    """(best category, its similarity, margin over the runner-up), or ``None``.

    ``fallback_code`` is never a candidate: "anything else" has no meaning to embed.
    """
    if text_vector is None:
        text_vector = embedder.embed([text])[0]
    labels = [(spec.code, category_texts(spec)) for spec in categories
              if spec.code != fallback_code]
    scores = label_scores(embedder, text_vector, labels)
    if not scores:
        return None
    runner_up = scores[1].score if len(scores) > 1 else 0.0
    return scores[0].label, scores[0].score, round(scores[0].score - runner_up, 4)


def embedding_decides(match: tuple[str, float, float] | None) -> bool:
    """Whether an embedding match is strong and clear enough to skip the LLM."""
    return (match is not None and match[1] >= EMBEDDING_MIN_SCORE
            and match[2] >= EMBEDDING_MIN_MARGIN)


def classify(
    *,
    text: str,
    categories: list[CategorySpec],
    chat: BaseChatModel | None,
    hint: str | None = None,
    fallback_code: str = "other",
    embedder: Embedder | None = None,
    text_vector: Vector | None = None,
) -> Classification:
    """Classify one event's text; never raises LLMUnavailable.

    Order: a hint naming a configured category, a strong keyword match, an embedding
    match above the score and margin thresholds, then the LLM; without a usable LLM,
    any keyword match, else ``fallback_code``.
    """
    flags = detect_injection(text)
    codes = {spec.code for spec in categories}
    if hint is not None and hint in codes:
        return _rule_result(hint, 1.0, "hint", flags)
    keyword_match = classify_keywords(text, categories)
    if keyword_match is not None and keyword_match[1] >= KEYWORD_THRESHOLD:
        return _rule_result(keyword_match[0], keyword_match[1], "keywords", flags)
    if embedder is not None:
        match = classify_embedding(embedder, text=text, categories=categories,
                                   fallback_code=fallback_code, text_vector=text_vector)
        if match is not None and embedding_decides(match):
            return _rule_result(match[0], match[1], "embedding", flags).model_copy(
                update={"model": embedder.name})
    if chat is None:
        error = "LLM not configured"
    else:
        try:
            category, severity, confidence, model = classify_llm(
                chat, text=text, categories=categories, fallback_code=fallback_code
            )
        except LLMUnavailable as exc:
            error = str(exc)
        else:
            return Classification(
                category=category,
                severity=severity,
                confidence=confidence,
                method="llm",
                prompt_version=CLASSIFY_PROMPT_VERSION,
                model=model,
                flags=flags,
            )
    if keyword_match is not None:
        result = _rule_result(keyword_match[0], keyword_match[1], "keywords", flags)
    else:
        result = _rule_result(fallback_code, 0.0, "fallback", flags)
    return result.model_copy(update={"llm_error": error})


def _rule_result(
    category: str,
    confidence: float,
    method: Literal["hint", "keywords", "embedding", "fallback"],
    flags: list[str],
) -> Classification:
    return Classification(
        category=category,
        severity="medium",
        confidence=min(max(confidence, 0.0), 1.0),
        method=method,
        prompt_version=None,
        model=None,
        flags=flags,
    )

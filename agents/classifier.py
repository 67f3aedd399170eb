"""Event classifier: hint, a learned model, keywords, embedding similarity, then a schema-constrained LLM call."""

from collections.abc import Callable
from typing import Literal

from langchain_core.language_models.chat_models import BaseChatModel
from pydantic import BaseModel, Field, ValidationError

from agents.embeddings import Embedder, Vector, label_scores, reads_text
from agents.errors import LLMUnavailable
from agents.llm import model_name, structured_call
from agents.prompts import CLASSIFY_PROMPT_VERSION, classify_messages
from agents.safety import detect_manipulation
from agents.text import clean, keyword_specificity, keywords_in

KEYWORD_THRESHOLD = 0.6
LEARNED_THRESHOLD = 0.6
"""A learned model's calibrated confidence at or above which its category decides."""
EMBEDDING_MIN_SCORE = 0.395
"""Below it the embedding stage does not decide (the text goes on to the LLM, or to the
fallback category and triage). Calibrated with `cityloop eval classify --no-llm` (all-MiniLM-L6-v2):
on the even half of the Riverton texts and of the bundled off-topic questions the best
threshold is 0.395; on the odd half it refuses 5.6% of the city texts and 95% of the
off-topic ones. Over all texts, 0.35 before -> 0.395: off-topic texts given a category 7.5%
-> 5.0%, accuracy without the LLM 90% -> 88% (the two texts lost go to triage)."""
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


Method = Literal["hint", "learned", "keywords", "embedding", "llm", "fallback"]
# A learned text model as the classifier sees it: text -> (category, calibrated confidence).
LearnedPredict = Callable[[str], tuple[str, float]]


class Classification(BaseModel):
    """The classifier's answer and how it was reached.

    There is no severity: priority comes from the city file, rules and staff, never from
    what a citizen wrote (or what a model made of it)."""

    category: str
    confidence: float = Field(ge=0.0, le=1.0)
    method: Method
    prompt_version: str | None
    model: str | None
    flags: list[str] = Field(default_factory=list)
    llm_error: str | None = None


class _LLMAnswer(BaseModel):
    category: str
    confidence: int = Field(ge=0, le=100)


def _keyword_score(text: str, keywords: list[str]) -> tuple[int, str]:
    """(keywords found, the most specific one), by ``agents.text``'s rule: CJK keywords
    match inside unspaced text, English ones on word boundaries."""
    found = keywords_in(text, keywords)
    return len(found), max(found, key=keyword_specificity, default="")


def _more_specific(keyword: str, other: str) -> bool:
    """``keyword`` says more than ``other`` about the same thing: it contains it ("垃圾桶满溢"
    over "垃圾", "construction debris" over "debris")."""
    return other != keyword and other.lower() in keyword.lower()


def classify_keywords(text: str, categories: list[CategorySpec]) -> tuple[str, float] | None:
    """Best category by matched keyword count, or ``None`` when nothing or a tie matches.

    Equal counts are told apart when the best match of one category contains that of the
    other ("垃圾桶满溢" beats "垃圾"); unrelated matches ("graffiti" and "garbage") stay a
    tie and decide nothing. Confidence is 0.6 for one matched keyword and 0.8 for two or
    more, less 0.1 when another category also matched.
    """
    scores = sorted(((_keyword_score(text, spec.keywords), spec.code) for spec in categories),
                    key=lambda item: (item[0][0], keyword_specificity(item[0][1])), reverse=True)
    if not scores or scores[0][0][0] == 0:
        return None
    (best_count, best_keyword), best_code = scores[0]
    tied = [keyword for (count, keyword), _ in scores[1:] if count == best_count]
    if any(not _more_specific(best_keyword, keyword) for keyword in tied):
        return None
    runner_up = scores[1][0][0] if len(scores) > 1 else 0
    confidence = 0.6 if best_count == 1 else 0.8
    if runner_up > 0:
        confidence -= 0.1
    return best_code, round(confidence, 2)


def _classify_schema(codes: list[str]) -> dict[str, object]:
    return {
        "type": "object",
        "properties": {
            "category": {"type": "string", "enum": codes},
            "confidence": {"type": "integer", "enum": list(CONFIDENCE_STEPS)},
        },
        "required": ["category", "confidence"],
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
) -> tuple[str, float, str]:
    """Ask the LLM for (category, confidence, model); raises LLMUnavailable.

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
        messages=classify_messages(report=text, category_lines=lines, fallback=fallback_code),
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
    return answer.category, answer.confidence / 100, model_name(chat)


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
    learned: LearnedPredict | None = None,
) -> Classification:
    """Classify one event's text; never raises LLMUnavailable.

    Order: a hint naming a configured category, the learned model's answer at or above
    ``LEARNED_THRESHOLD`` (a configured category only), a strong keyword match, an embedding
    match above the score and margin thresholds, then the LLM; without a usable LLM,
    any keyword match, else ``fallback_code``.
    """
    text = clean(text).text
    flags = detect_manipulation(text)
    codes = {spec.code for spec in categories}
    if hint is not None and hint in codes:
        return _rule_result(hint, 1.0, "hint", flags)
    if learned is not None:
        category, confidence = learned(text)
        if category in codes and confidence >= LEARNED_THRESHOLD:
            return _rule_result(category, confidence, "learned", flags)
    keyword_match = classify_keywords(text, categories)
    if keyword_match is not None and keyword_match[1] >= KEYWORD_THRESHOLD:
        return _rule_result(keyword_match[0], keyword_match[1], "keywords", flags)
    if embedder is not None and reads_text(embedder, text):  # no guessing at unread Chinese
        match = classify_embedding(embedder, text=text, categories=categories,
                                   fallback_code=fallback_code, text_vector=text_vector)
        if match is not None and embedding_decides(match):
            return _rule_result(match[0], match[1], "embedding", flags).model_copy(
                update={"model": embedder.name})
    if chat is None:
        error = "LLM not configured"
    else:
        try:
            category, confidence, model = classify_llm(
                chat, text=text, categories=categories, fallback_code=fallback_code
            )
        except LLMUnavailable as exc:
            error = str(exc)
        else:
            return Classification(
                category=category,
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
    method: Literal["hint", "learned", "keywords", "embedding", "fallback"],
    flags: list[str],
) -> Classification:
    return Classification(
        category=category,
        confidence=min(max(confidence, 0.0), 1.0),
        method=method,
        prompt_version=None,
        model=None,
        flags=flags,
    )

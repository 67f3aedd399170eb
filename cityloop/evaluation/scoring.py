"""What the classifier evaluations share: the LLM-only answer, counted, and the percent cell."""

from __future__ import annotations

from typing import Protocol

from langchain_core.language_models import BaseChatModel

from agents import LLMUnavailable, classify_llm
from agents.classifier import CategorySpec


class LLMTally(Protocol):
    """A report that counts failed LLM calls and names the model that answered."""

    llm_errors: int
    model: str | None


def llm_only_answer(chat: BaseChatModel, *, text: str, categories: list[CategorySpec], fallback: str,
                    tally: LLMTally) -> str:
    """The category the LLM alone picks; a failed call counts in ``tally`` and answers ``fallback``."""
    try:
        category, _, model = classify_llm(chat, text=text, categories=categories, fallback_code=fallback)
    except LLMUnavailable:
        tally.llm_errors += 1
        return fallback
    tally.model = model
    return category


def percent(correct: int, n: int) -> str:
    """``"83% (5)"``: the share and the count, or ``-`` when there is nothing to score."""
    return f"{100 * correct / n:.0f}% ({correct})" if n else "-"

"""Ask the city: a question in plain words (English or Chinese) → search filters.

A library: it receives the question, the city's vocabulary, "now", and optionally an
embedder and a chat model. The rules parser is the default; with a chat model the LLM
parses into the same schema and the rules answer whenever it cannot.
"""

from __future__ import annotations

from datetime import datetime

from langchain_core.language_models.chat_models import BaseChatModel

from agents.ask.explain import explain
from agents.ask.llm import ASK_PROMPT_VERSION, answer_schema, parse_with_llm
from agents.ask.rules import parse_question
from agents.ask.schema import (
    ACTIVE,
    STATUSES,
    AskFilters,
    AskParse,
    AskVocabulary,
    LayerTerm,
    Near,
    Status,
    Term,
)
from agents.embeddings import Embedder
from agents.errors import LLMUnavailable


def parse(question: str, vocabulary: AskVocabulary, *, now: datetime,
          embedder: Embedder | None = None, chat: BaseChatModel | None = None) -> AskParse:
    """The LLM's parse when a chat model is given and answers; the rules' otherwise."""
    if chat is not None:
        try:
            return parse_with_llm(question, vocabulary, chat=chat, now=now)
        except LLMUnavailable as exc:
            fallback = parse_question(question, vocabulary, now=now, embedder=embedder)
            return fallback.model_copy(update={"llm_error": str(exc)[:300]})
    return parse_question(question, vocabulary, now=now, embedder=embedder)


__all__ = [
    "ACTIVE",
    "ASK_PROMPT_VERSION",
    "STATUSES",
    "AskFilters",
    "AskParse",
    "AskVocabulary",
    "LayerTerm",
    "Near",
    "Status",
    "Term",
    "answer_schema",
    "explain",
    "parse",
    "parse_question",
    "parse_with_llm",
]

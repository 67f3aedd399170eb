"""CityLoop agents: LLM client, prompts and one module per agent.

A library: it receives data and a chat model, never a database session, and
imports no other CityLoop package.
"""

from agents.classifier import (
    CategorySpec,
    Classification,
    classify,
    classify_keywords,
    classify_llm,
)
from agents.errors import AgentError, LLMUnavailable
from agents.llm import LLMConfig, build_chat_model, model_name, structured_call
from agents.prompts import (
    CLASSIFY_PROMPT_VERSION,
    ROUTE_PROMPT_VERSION,
    SHARED_SYSTEM_PREFIX,
    WRITE_PROMPT_VERSION,
)
from agents.routing import AgencyChoice, AgencySpec, choose_agency
from agents.safety import detect_injection, wrap_untrusted
from agents.writer import EventFacts, Writeup, fallback_writeup, write_incident

__all__ = [
    "CLASSIFY_PROMPT_VERSION",
    "ROUTE_PROMPT_VERSION",
    "SHARED_SYSTEM_PREFIX",
    "WRITE_PROMPT_VERSION",
    "AgencyChoice",
    "AgencySpec",
    "AgentError",
    "CategorySpec",
    "Classification",
    "EventFacts",
    "LLMConfig",
    "LLMUnavailable",
    "Writeup",
    "build_chat_model",
    "choose_agency",
    "classify",
    "classify_keywords",
    "classify_llm",
    "detect_injection",
    "fallback_writeup",
    "model_name",
    "structured_call",
    "wrap_untrusted",
    "write_incident",
]

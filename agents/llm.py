"""The LLM client: configuration, construction and schema-constrained calls.

Servers differ in how they accept a JSON schema:

* vLLM (and OpenAI, and llama.cpp's own ``llama-server``) take
  ``response_format={"type": "json_schema", "json_schema": {...}}``.
* llama-cpp-python's server (0.3.x) rejects that with HTTP 500 ("Input should be
  'text' or 'json_object'") and instead constrains output with
  ``response_format={"type": "json_object", "schema": {...}}``.

``structured_call`` sends the standard form first and, when a server rejects it
because of ``response_format``, repeats the request in llama-cpp-python's form and
remembers that choice for the server's base URL. Langchain renames ``max_tokens`` to
``max_completion_tokens``, which llama-cpp-python ignores, so ``max_tokens`` is also
sent in ``extra_body``.
"""

import json
import time
from collections.abc import Sequence
from typing import Any, Literal

import httpx
import openai
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field, SecretStr

from agents.errors import LLMTransportError, LLMUnavailable
from agents.resilience import LLMGuard, attach_guard, content_key, guard_for
from agents.telemetry import LLMCall, report_llm_call

FormatDialect = Literal["json_schema", "json_object_schema"]

_DIALECT_BY_BASE_URL: dict[str, FormatDialect] = {}
_HTTP_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError,)
try:  # openai >= 3 sends requests with httpx2, whose errors are not httpx's
    import httpx2

    _HTTP_ERRORS += (httpx2.HTTPError,)
except ImportError:  # pragma: no cover - older openai clients use httpx only
    pass
# Everything a call to the server, or reading its answer, can fail with.
_CALL_ERRORS: tuple[type[Exception], ...] = (openai.OpenAIError, OSError, ValueError, *_HTTP_ERRORS)
_ERROR_TEXT_LIMIT = 200


class LLMConfig(BaseModel):
    """Where the OpenAI-compatible LLM server is and how to talk to it."""

    base_url: str = ""
    model: str = "smollm2-135m-instruct"
    api_key: str = "not-needed"
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    max_retries: int = Field(default=1, ge=0, le=10)
    enabled: bool = True
    # The served model accepts OpenAI image content parts (a vision-language model).
    vision: bool = False
    cache_size: int = Field(default=1024, ge=0, le=1_000_000)
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_cooldown_s: float = Field(default=30.0, gt=0, le=3600)
    max_concurrency: int = Field(default=4, ge=1, le=1024)


def build_chat_model(config: LLMConfig) -> BaseChatModel | None:
    """Build the chat model, or ``None`` when the LLM is disabled or has no URL."""
    if not config.enabled or not config.base_url:
        return None
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        base_url=config.base_url,
        model=config.model,
        api_key=SecretStr(config.api_key),
        timeout=config.timeout_s,
        max_retries=config.max_retries,
        temperature=0,
    )
    attach_guard(chat, LLMGuard(
        cache_size=config.cache_size, failure_threshold=config.breaker_failures,
        cooldown_s=config.breaker_cooldown_s, max_concurrency=config.max_concurrency,
        acquire_timeout_s=config.timeout_s))
    return chat


def model_name(chat: BaseChatModel) -> str:
    """The model name a chat model is configured with, for provenance records."""
    for attribute in ("model_name", "model"):
        value = getattr(chat, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(chat).__name__


def response_format_for(
    dialect: FormatDialect, *, schema_name: str, json_schema: dict[str, Any]
) -> dict[str, Any]:
    """The ``response_format`` request field in the given server dialect."""
    if dialect == "json_object_schema":
        return {"type": "json_object", "schema": json_schema}
    return {
        "type": "json_schema",
        "json_schema": {"name": schema_name, "schema": json_schema, "strict": True},
    }


def structured_call(
    chat: BaseChatModel,
    *,
    messages: Sequence[BaseMessage],
    schema_name: str,
    json_schema: dict[str, Any],
    max_tokens: int,
) -> dict[str, Any]:
    """Ask for output constrained by ``json_schema`` and return it parsed.

    Raises LLMUnavailable on any transport, status, timeout or parsing failure, and
    at once while the chat model's circuit breaker is open. Answers are cached by a
    hash of the model, the messages (whose prompt carries its version) and the schema.
    """
    guard = guard_for(chat)

    def fetch() -> dict[str, Any]:
        return _structured_call(chat, messages, schema_name, json_schema, max_tokens)

    if guard is None:
        return fetch()
    key = content_key(
        model=model_name(chat), base_url=str(getattr(chat, "openai_api_base", "") or ""),
        messages=[(m.type, m.content) for m in messages], schema_name=schema_name,
        schema=json_schema, max_tokens=max_tokens)
    return guard.call(key, fetch)


def _structured_call(
    chat: BaseChatModel,
    messages: Sequence[BaseMessage],
    schema_name: str,
    json_schema: dict[str, Any],
    max_tokens: int,
) -> dict[str, Any]:
    base_url = str(getattr(chat, "openai_api_base", "") or "")
    dialect = _DIALECT_BY_BASE_URL.get(base_url, "json_schema")
    try:
        try:
            content = _invoke(chat, messages, dialect, schema_name, json_schema, max_tokens)
        except openai.APIStatusError as exc:
            if dialect != "json_schema" or not _rejects_response_format(exc):
                raise
            dialect = "json_object_schema"
            content = _invoke(chat, messages, dialect, schema_name, json_schema, max_tokens)
            if base_url:
                _DIALECT_BY_BASE_URL[base_url] = dialect
        return _parse_object(content)
    except LLMUnavailable:
        raise
    except _CALL_ERRORS as exc:
        error = LLMTransportError if _is_transport(exc) else LLMUnavailable
        raise error(_short_error(exc)) from exc


def _invoke(
    chat: BaseChatModel,
    messages: Sequence[BaseMessage],
    dialect: FormatDialect,
    schema_name: str,
    json_schema: dict[str, Any],
    max_tokens: int,
) -> str:
    response_format = response_format_for(dialect, schema_name=schema_name, json_schema=json_schema)
    bound = chat.bind(
        response_format=response_format,
        max_tokens=max_tokens,
        extra_body={"max_tokens": max_tokens},
    )
    started = time.perf_counter()
    try:
        reply = bound.invoke(list(messages))
    except Exception as exc:
        report_llm_call(LLMCall(model=model_name(chat), seconds=time.perf_counter() - started,
                                error=type(exc).__name__))
        raise
    usage = getattr(reply, "usage_metadata", None) or {}
    report_llm_call(LLMCall(model=model_name(chat), seconds=time.perf_counter() - started,
                            prompt_tokens=int(usage.get("input_tokens", 0) or 0),
                            completion_tokens=int(usage.get("output_tokens", 0) or 0)))
    content = reply.content
    if isinstance(content, str):
        return content
    return "".join(
        block if isinstance(block, str) else str(block.get("text", "")) for block in content
    )


def _is_transport(exc: Exception) -> bool:
    """Whether the server is down or failing (what the circuit breaker counts)."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code == 429
    return isinstance(exc, (openai.OpenAIError, OSError, *_HTTP_ERRORS))


def _rejects_response_format(exc: openai.APIStatusError) -> bool:
    if exc.status_code in (401, 403, 404, 429):
        return False
    return "response_format" in str(exc) or "json_schema" in str(exc)


def _parse_object(content: str) -> dict[str, Any]:
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise LLMUnavailable(f"LLM output is not valid JSON: {content[:80]!r}") from exc
    if not isinstance(data, dict):
        raise LLMUnavailable(f"LLM output is not a JSON object: {content[:80]!r}")
    return data


def _short_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > _ERROR_TEXT_LIMIT:
        text = text[: _ERROR_TEXT_LIMIT - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

import json
import threading
import time

import openai
import pytest

from agents import LLMUnavailable, classify
from agents.classifier import CategorySpec
from agents.errors import LLMTransportError
from agents.llm import LLMConfig, build_chat_model, structured_call
from agents.resilience import CircuitBreaker, LLMGuard, ResultCache, attach_guard, guard_for
from agents.writer import EventFacts, fallback_writeup, write_incident
from tests.helpers.fakes import FakeChatModel, connection_error

SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
CATEGORIES = [CategorySpec(code="pothole", name="Pothole", keywords=["pothole"])]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state_of(breaker: CircuitBreaker) -> str:
    return breaker.state


def ask(chat: FakeChatModel, text: str = "hello") -> dict[str, object]:
    from langchain_core.messages import HumanMessage

    return structured_call(chat, messages=[HumanMessage(content=text)], schema_name="t",
                           json_schema=SCHEMA, max_tokens=40)


def guarded(replies: list[str | Exception], **options: object) -> FakeChatModel:
    chat = FakeChatModel(replies=replies)
    attach_guard(chat, LLMGuard(**options))  # type: ignore[arg-type]
    return chat


def test_the_same_question_is_answered_from_the_cache() -> None:
    chat = guarded(['{"ok": true}', '{"ok": false}'])

    first, second, other = ask(chat), ask(chat), ask(chat, "something else")

    assert first == second == {"ok": True}
    assert other == {"ok": False}
    assert len(chat.calls) == 2
    guard = guard_for(chat)
    assert guard is not None and (guard.cache.hits, guard.cache.misses) == (1, 2)


def test_changed_prompt_text_is_a_different_key() -> None:
    chat = guarded(['{"ok": true}', '{"ok": true}'])

    ask(chat, "prompt classify-v1: report")
    ask(chat, "prompt classify-v2: report")

    assert len(chat.calls) == 2


def test_cached_answers_cannot_be_changed_by_the_caller() -> None:
    chat = guarded(['{"ok": true}'])

    ask(chat)["ok"] = "tampered"

    assert ask(chat) == {"ok": True}


def test_lru_evicts_the_least_recently_used() -> None:
    cache = ResultCache(2)
    cache.put("a", {"v": 1})
    cache.put("b", {"v": 2})
    assert cache.get("a") == {"v": 1}
    cache.put("c", {"v": 3})

    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ({"v": 1}, None, {"v": 3})


def test_breaker_opens_after_consecutive_failures_and_then_fails_fast() -> None:
    clock = Clock()
    chat = guarded([connection_error(), connection_error()], failure_threshold=2,
                   cooldown_s=30, clock=clock)

    for _ in range(2):
        with pytest.raises(LLMTransportError):
            ask(chat, "a")
    with pytest.raises(LLMUnavailable, match="circuit open"):
        ask(chat, "b")

    assert len(chat.calls) == 2  # the third call never reached the server


def test_half_open_trial_closes_on_success_and_reopens_on_failure() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown_s=30, clock=clock)
    breaker.record_failure()
    assert state_of(breaker) == "open"

    clock.now += 31
    assert state_of(breaker) == "half_open"
    breaker.before_call()  # the one trial
    with pytest.raises(LLMUnavailable):
        breaker.before_call()  # a second caller while the trial runs
    breaker.record_failure()
    assert state_of(breaker) == "open"

    clock.now += 31
    breaker.before_call()
    breaker.record_success()
    assert state_of(breaker) == "closed"
    breaker.before_call()


def test_bad_answers_do_not_open_the_breaker() -> None:
    chat = guarded(["not json", "not json", '{"ok": true}'], failure_threshold=2)

    for text in ("a", "b"):
        with pytest.raises(LLMUnavailable):
            ask(chat, text)

    assert ask(chat, "c") == {"ok": True}


def test_client_errors_do_not_open_the_breaker_but_server_errors_do() -> None:
    import httpx2

    def status_error(code: int) -> openai.APIStatusError:
        request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
        return openai.APIStatusError("boom", response=httpx2.Response(code, request=request),
                                     body=None)

    chat = guarded([status_error(401), status_error(503), '{"ok": true}'], failure_threshold=1)

    with pytest.raises(LLMUnavailable) as client_error:
        ask(chat, "a")
    assert not isinstance(client_error.value, LLMTransportError)
    with pytest.raises(LLMTransportError):
        ask(chat, "b")
    with pytest.raises(LLMUnavailable, match="circuit open"):
        ask(chat, "c")


def test_open_breaker_means_rules_decide_and_the_writeup_is_the_fallback() -> None:
    chat = guarded([connection_error()], failure_threshold=1)
    with pytest.raises(LLMUnavailable):
        ask(chat)

    result = classify(text="smoke on the hill", categories=CATEGORIES, chat=chat)
    facts = EventFacts(description="smoke on the hill", source="web", category="other",
                       category_name="Other")
    with pytest.raises(LLMUnavailable, match="circuit open"):
        write_incident(chat, facts=facts)

    assert (result.method, result.category) == ("fallback", "other")
    assert result.llm_error is not None and "circuit open" in result.llm_error
    assert fallback_writeup(facts).method == "fallback"
    assert len(chat.calls) == 1


class SlowChat(FakeChatModel):
    active: int = 0
    peak: int = 0

    def _generate(self, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        with _LOCK:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(0.2)
        with _LOCK:
            self.active -= 1
        return super()._generate(*args, **kwargs)  # type: ignore[arg-type]


_LOCK = threading.Lock()


def test_concurrent_calls_are_bounded() -> None:
    chat = SlowChat(replies=[json.dumps({"ok": True})] * 8)
    attach_guard(chat, LLMGuard(max_concurrency=2, cache_size=0))

    threads = [threading.Thread(target=ask, args=(chat, f"q{i}")) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(chat.calls) == 8
    assert chat.peak == 2


def test_build_chat_model_attaches_a_guard_from_the_config() -> None:
    chat = build_chat_model(LLMConfig(base_url="http://127.0.0.1:9/v1", breaker_failures=3,
                                      max_concurrency=7, cache_size=10))

    guard = guard_for(chat)
    assert guard is not None
    assert (guard.breaker.failure_threshold, guard.max_concurrency, guard.cache.max_entries) == (
        3, 7, 10)

"""What stands between the agents and the LLM server in production.

* ``ResultCache`` — an in-process LRU of parsed answers keyed by a SHA-256 of the
  model, the full prompt (which carries the prompt version) and the requested schema:
  the same question is asked once.
* ``CircuitBreaker`` — after ``failure_threshold`` consecutive transport failures the
  circuit opens and calls fail fast with ``LLMUnavailable`` (the rules decide, the
  incident goes to triage); after ``cooldown_s`` one trial call is let through
  (half-open): success closes the circuit, failure opens it again.
* A bounded semaphore caps concurrent calls per process.

``LLMGuard`` bundles the three; ``agents.llm.structured_call`` uses the guard that
``build_chat_model`` attached to the chat model, if any.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

from agents.errors import LLMTransportError, LLMUnavailable

BreakerState = Literal["closed", "open", "half_open"]


def content_key(**parts: Any) -> str:
    """SHA-256 of the parts as canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResultCache:
    """A thread-safe LRU of JSON-like answers; ``max_entries == 0`` disables it."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return copy.deepcopy(value)

    def put(self, key: str, value: dict[str, Any]) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._entries[key] = copy.deepcopy(value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class CircuitBreaker:
    """Closed -> open after N consecutive failures -> half-open after the cool-down."""

    def __init__(self, *, failure_threshold: int, cooldown_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    def before_call(self) -> None:
        """Raise LLMUnavailable when the circuit is open (or its one trial is running)."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return
            if state == "half_open" and not self._trial_running:
                self._trial_running = True
                return
            assert self._opened_at is not None
            wait = max(0.0, self.cooldown_s - (self._clock() - self._opened_at))
            raise LLMUnavailable(
                f"circuit open after {self._failures} consecutive LLM failures; "
                f"next try in {wait:.0f} s")

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def abandon_trial(self) -> None:
        """A half-open trial that never reached the server: let the next call try."""
        with self._lock:
            self._trial_running = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_running or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
            self._trial_running = False


class LLMGuard:
    """Cache, circuit breaker and concurrency bound around one LLM server's calls."""

    def __init__(self, *, cache_size: int = 1024, failure_threshold: int = 5,
                 cooldown_s: float = 30.0, max_concurrency: int = 4,
                 acquire_timeout_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cache = ResultCache(cache_size)
        self.breaker = CircuitBreaker(failure_threshold=failure_threshold,
                                      cooldown_s=cooldown_s, clock=clock)
        self.max_concurrency = max_concurrency
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._acquire_timeout_s = acquire_timeout_s

    def call(self, key: str, fetch: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The cached answer for ``key``, else ``fetch()`` under the breaker and the bound.

        Only transport failures (``LLMTransportError``) count against the breaker: a
        server that answers, even badly, is up.
        """
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        self.breaker.before_call()
        if not self._slots.acquire(timeout=self._acquire_timeout_s):
            self.breaker.abandon_trial()  # the server is not at fault
            raise LLMUnavailable(
                f"all {self.max_concurrency} LLM call slots busy for {self._acquire_timeout_s:.0f} s")
        try:
            result = fetch()
        except LLMTransportError:
            self.breaker.record_failure()
            raise
        except LLMUnavailable:
            self.breaker.record_success()
            raise
        finally:
            self._slots.release()
        self.breaker.record_success()
        self.cache.put(key, result)
        return copy.deepcopy(result)


_GUARDS: dict[int, LLMGuard] = {}
_GUARDS_LOCK = threading.Lock()


def attach_guard(chat: object, guard: LLMGuard) -> None:
    """Use ``guard`` for every structured call made with ``chat`` (for its lifetime)."""
    key = id(chat)
    with _GUARDS_LOCK:
        _GUARDS[key] = guard
    weakref.finalize(chat, _detach, key)


def _detach(key: int) -> None:
    with _GUARDS_LOCK:
        _GUARDS.pop(key, None)


def guard_for(chat: object) -> LLMGuard | None:
    with _GUARDS_LOCK:
        return _GUARDS.get(id(chat))

"""What the LLM client reports about each call to whoever watches (the metrics of the
composition): a small observer hook, so this package imports no metrics library of ours."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LLMCall:
    """One request to the LLM server: its model, how long it took, the tokens the server
    counted (0 when it did not say) and, for a failed call, the kind of error."""

    model: str
    seconds: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


LLMObserver = Callable[[LLMCall], None]
_observers: list[LLMObserver] = []


def add_llm_observer(observer: LLMObserver) -> None:
    """Call ``observer`` after every LLM request of this process (once per observer)."""
    if observer not in _observers:
        _observers.append(observer)


def report_llm_call(call: LLMCall) -> None:
    for observer in list(_observers):
        try:
            observer(call)
        except Exception:  # an observer never breaks a call
            log.exception("LLM observer %r failed", observer)

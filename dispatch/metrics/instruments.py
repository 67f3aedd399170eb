"""The metrics counted where things happen: Celery task durations and outcomes (signals)
and LLM calls (the ``agents.telemetry`` hook).

Counts live in prometheus_client's process-local values, or, when the process was started
with ``PROMETHEUS_MULTIPROC_DIR`` (the launcher and the systemd units set it), in files
there that ``/metrics`` adds up across the API's and every worker pool process of a host.
What the database or the broker already knows (events, tickets, deliveries, queue depths,
camera states) is read at scrape time instead (``dispatch.metrics.collectors``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import signals
from prometheus_client import Counter, Histogram

from agents.telemetry import LLMCall, add_llm_observer

TASK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)

TASK_SECONDS = Histogram("cityloop_task_duration_seconds", "Celery task run time, per task and outcome",
                         ["task", "state"], buckets=TASK_BUCKETS)
LLM_SECONDS = Histogram("cityloop_llm_call_duration_seconds", "LLM request time, per model and outcome",
                        ["model", "outcome"], buckets=LLM_BUCKETS)
LLM_TOKENS = Counter("cityloop_llm_tokens", "Tokens the LLM server counted, per model and kind",
                     ["model", "kind"])
LLM_ERRORS = Counter("cityloop_llm_errors", "LLM requests that failed, per model and error", ["model", "error"])

_started: dict[str, float] = {}


def _task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


def _task_ended(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    began = _started.pop(task_id or "", None)
    if began is not None and task is not None:
        TASK_SECONDS.labels(task=str(getattr(task, "name", task)), state=state or "UNKNOWN").observe(
            time.perf_counter() - began)


def _pool_process_ended(pid: int | None = None, **_: Any) -> None:
    """A pool process that exits leaves its counts to the folder, not its live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


def observe_llm_call(call: LLMCall) -> None:
    outcome = "error" if call.error else "ok"
    LLM_SECONDS.labels(model=call.model, outcome=outcome).observe(call.seconds)
    if call.error:
        LLM_ERRORS.labels(model=call.model, error=call.error).inc()
    if call.prompt_tokens:
        LLM_TOKENS.labels(model=call.model, kind="prompt").inc(call.prompt_tokens)
    if call.completion_tokens:
        LLM_TOKENS.labels(model=call.model, kind="completion").inc(call.completion_tokens)


def instrument() -> None:
    """Count tasks and LLM calls in this process from now on (idempotent)."""
    signals.task_prerun.connect(_task_started, weak=False, dispatch_uid="cityloop-metrics-prerun")
    signals.task_postrun.connect(_task_ended, weak=False, dispatch_uid="cityloop-metrics-postrun")
    signals.worker_process_shutdown.connect(_pool_process_ended, weak=False,
                                            dispatch_uid="cityloop-metrics-shutdown")
    add_llm_observer(observe_llm_call)

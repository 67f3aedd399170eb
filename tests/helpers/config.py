"""Paths of the repository and the sample city; the configuration the tests run the system with."""

from __future__ import annotations

import os
from pathlib import Path

from agents import LLMConfig
from dispatch.core.config import DispatchConfig

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CITY = ROOT / "cityloop" / "cities" / "riverton.yaml"
ARTIFACTS = ROOT / "test-artifacts"

DOWN_LLM = LLMConfig(base_url="http://127.0.0.1:9/v1", timeout_s=2, max_retries=0)
"""An LLM nobody answers at: the paths that work without one."""


def make_dispatch_config(database_url: str, broker_url: str, llm: LLMConfig) -> DispatchConfig:
    return DispatchConfig(
        database_url=database_url, broker_url=broker_url, city_file=SAMPLE_CITY, llm=llm,
        visibility_timeout_s=10, worker_concurrency=2, stale_event_after_s=5, sweep_interval_s=3)


def child_env(config: DispatchConfig) -> dict[str, str]:
    """The environment of a ``cityloop`` child process that runs with ``config``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM__", "CELERY__"))}
    env.update({
        "DATABASE_URL": config.database_url, "BROKER_URL": config.broker_url,
        "CITY_FILE": str(config.city_file), "LLM__BASE_URL": config.llm.base_url,
        "LLM__MODEL": config.llm.model, "LLM__TIMEOUT_S": str(config.llm.timeout_s),
        "LLM__MAX_RETRIES": str(config.llm.max_retries),
        "CELERY__VISIBILITY_TIMEOUT_S": str(config.visibility_timeout_s),
        "CELERY__STALE_EVENT_AFTER_S": str(config.stale_event_after_s),
        "CELERY__SWEEP_INTERVAL_S": str(config.sweep_interval_s),
        "CITYLOOP_CONFIG": "/nonexistent/cityloop.yaml", "PYTHONUNBUFFERED": "1",
    })
    return env

"""What dispatch needs to run, handed to it by the composition (``cityloop.settings``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from agents import LLMConfig
from perception.settings import PerceptionSettings


class DispatchConfig(BaseModel):
    database_url: str = Field(min_length=1)
    broker_url: str = Field(min_length=1)
    city_file: Path
    llm: LLMConfig = LLMConfig()
    visibility_timeout_s: int = 300
    worker_concurrency: int = 2
    stale_event_after_s: int = 120
    sweep_interval_s: float = 30.0
    max_image_bytes: int = 5_000_000
    perception: PerceptionSettings = PerceptionSettings()

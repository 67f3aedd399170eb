"""What dispatch needs to run, handed to it by the composition (``cityloop.settings``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from agents import LLMConfig
from agents.embeddings import EmbeddingConfig
from perception.settings import PerceptionSettings


class DispatchConfig(BaseModel):
    database_url: str = Field(min_length=1)
    broker_url: str = Field(min_length=1)
    city_file: Path
    llm: LLMConfig = LLMConfig()
    embeddings: EmbeddingConfig = EmbeddingConfig()
    visibility_timeout_s: int = 300
    worker_concurrency: int = 2
    stale_event_after_s: int = 120
    sweep_interval_s: float = 30.0
    understand_batch: int = Field(default=16, ge=1, le=256)  # events one understand task may take
    db_pre_ping: bool = True  # off in Celery workers (see dispatch.core.db.make_engine)
    max_image_bytes: int = 5_000_000
    perception: PerceptionSettings = PerceptionSettings()

"""The one settings object. Environment variables override the YAML file.

Nested fields use ``__`` in the environment: ``LLM__BASE_URL``, ``LLM__MODEL``.
An empty ``database_url`` / ``broker_url`` / ``llm.base_url`` means "start the
embedded default" (only ``cityloop up`` does that). Other commands fill what is still
empty from the endpoints a running ``cityloop up`` records (``cityloop.endpoints``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from agents import LLMConfig
from agents.embeddings import EmbeddingConfig
from perception.settings import PerceptionSettings

PACKAGE_DIR = Path(__file__).resolve().parent
CITIES_DIR = PACKAGE_DIR / "cities"
SAMPLE_CITY = CITIES_DIR / "riverton.yaml"
BUNDLED_CITIES = {path.stem: path for path in (SAMPLE_CITY, CITIES_DIR / "jiangcheng.yaml",
                                               CITIES_DIR / "nyc.yaml", CITIES_DIR / "sf.yaml")}


class EmbeddedSettings(BaseModel):
    """Where ``cityloop up`` keeps the embedded PostgreSQL and redis data."""

    data_dir: Path = Path("var")
    llm_port: int = 8081
    llm_threads: int = Field(default=2, ge=1, le=256)


class CelerySettings(BaseModel):
    visibility_timeout_s: int = Field(default=300, ge=1)
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    stale_event_after_s: int = Field(default=120, ge=1)
    sweep_interval_s: float = Field(default=30.0, gt=0)
    understand_batch: int = Field(default=16, ge=1, le=256)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_nested_delimiter="__",
        extra="forbid",
    )

    database_url: str = ""
    broker_url: str = ""
    city_file: Path = SAMPLE_CITY
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str = ""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_image_bytes: int = Field(default=5_000_000, ge=1)
    map_tile_url: str = ""
    map_attribution: str = ""
    max_image_megapixels: float = Field(default=40.0, gt=0, le=1000)
    # reverse proxies whose X-Forwarded-For/-Proto are believed, e.g. TRUSTED_PROXIES='["10.0.0.5"]'
    trusted_proxies: list[str] = Field(default_factory=list)
    llm: LLMConfig = LLMConfig()
    # the sentence-transformers model (EMBEDDINGS__MODEL_PATH); a Chinese city wants a
    # multilingual one: on the bundled English MiniLM, Chinese text skips embeddings
    embeddings: EmbeddingConfig = EmbeddingConfig()
    embedded: EmbeddedSettings = EmbeddedSettings()
    celery: CelerySettings = CelerySettings()
    perception: PerceptionSettings = PerceptionSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            YamlConfigSettingsSource(
                settings_cls, yaml_file=os.environ.get("CITYLOOP_CONFIG", "cityloop.yaml")
            ),
            file_secret_settings,
        )

    @property
    def sqlalchemy_url(self) -> str:
        """``postgresql://`` URLs are mapped to the psycopg 3 driver."""
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]

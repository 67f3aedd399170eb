"""Settings -> the config each package receives. Packages never read the environment."""

from __future__ import annotations

from api.config import ApiConfig
from cityloop.settings import Settings
from dispatch.core.config import DispatchConfig


class MissingSetting(Exception):
    pass


def dispatch_config(settings: Settings) -> DispatchConfig:
    missing = [name for name, value in (("DATABASE_URL", settings.database_url),
                                        ("BROKER_URL", settings.broker_url)) if not value]
    if missing:
        raise MissingSetting(
            f"{' and '.join(missing)} must be set for this command "
            "(`cityloop up` starts embedded servers and sets them for its children)")
    return DispatchConfig(
        database_url=settings.sqlalchemy_url, broker_url=settings.broker_url,
        city_file=settings.city_file, llm=settings.llm, embeddings=settings.embeddings,
        visibility_timeout_s=settings.celery.visibility_timeout_s,
        worker_concurrency=settings.celery.worker_concurrency,
        stale_event_after_s=settings.celery.stale_event_after_s,
        sweep_interval_s=settings.celery.sweep_interval_s,
        understand_batch=settings.celery.understand_batch,
        max_image_bytes=settings.max_image_bytes, perception=settings.perception,
    )


def api_config(settings: Settings) -> ApiConfig:
    public = settings.public_url or f"http://{settings.host}:{settings.port}"
    return ApiConfig(dispatch=dispatch_config(settings), max_image_bytes=settings.max_image_bytes,
                     public_url=public, map_tile_url=settings.map_tile_url,
                     map_attribution=settings.map_attribution,
                     max_image_megapixels=settings.max_image_megapixels,
                     trusted_proxies=settings.trusted_proxies)

"""The Celery app: one queue per pipeline stage, one per agency, routed by name."""

from __future__ import annotations

from celery import Celery

from dispatch.city.config import CityConfig
from dispatch.core.config import DispatchConfig

UNDERSTAND_QUEUE = "pipeline.understand"
ROUTE_QUEUE = "pipeline.route"
MAINTENANCE_QUEUE = "pipeline.maintenance"
# uploaded clips; run by workers that have the detector (near a GPU in production)
PERCEPTION_QUEUE = "perception.clips"
PIPELINE_QUEUES = (UNDERSTAND_QUEUE, ROUTE_QUEUE, MAINTENANCE_QUEUE, PERCEPTION_QUEUE)

app = Celery("cityloop", include=["dispatch.tasks", "dispatch.cameras.tasks"])


def all_queues(city: CityConfig) -> list[str]:
    return [*PIPELINE_QUEUES, *city.queues()]


def configure(config: DispatchConfig) -> Celery:
    """Point the app at the broker. Task arguments are ids only; results are not stored."""
    app.conf.update(
        broker_url=config.broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": config.visibility_timeout_s},
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=config.worker_concurrency,
        task_default_queue=MAINTENANCE_QUEUE,
        task_routes={
            "cityloop.understand_event": {"queue": UNDERSTAND_QUEUE},
            "cityloop.route_incident": {"queue": ROUTE_QUEUE},
            "cityloop.ingest_clip": {"queue": PERCEPTION_QUEUE},
            "cityloop.run_rechecks": {"queue": PERCEPTION_QUEUE},  # loads the detector
            "cityloop.*": {"queue": MAINTENANCE_QUEUE},
        },
        beat_schedule={
            "sweep-stalled-work": {"task": "cityloop.sweep", "schedule": config.sweep_interval_s},
            "check-sla": {"task": "cityloop.check_sla", "schedule": 60.0},
            "run-rechecks": {"task": "cityloop.run_rechecks", "schedule": 60.0},
            "sweep-clips": {"task": "cityloop.sweep_clips", "schedule": config.sweep_interval_s},
        },
        worker_hijack_root_logger=False,
    )
    return app

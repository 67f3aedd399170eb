"""The Celery app: one queue per pipeline stage, one per agency, routed by name."""

from __future__ import annotations

import contextlib

from celery import Celery
from celery.schedules import crontab
from kombu import Exchange, Queue

from dispatch.city.config import CityConfig, load_city
from dispatch.core.config import DispatchConfig

UNDERSTAND_QUEUE = "pipeline.understand"
ROUTE_QUEUE = "pipeline.route"
MAINTENANCE_QUEUE = "pipeline.maintenance"
# uploaded clips; run by workers that have the detector (near a GPU in production)
PERCEPTION_QUEUE = "perception.clips"
PIPELINE_QUEUES = (UNDERSTAND_QUEUE, ROUTE_QUEUE, MAINTENANCE_QUEUE, PERCEPTION_QUEUE)

app = Celery("cityloop", include=["dispatch.tasks", "dispatch.cameras.tasks"])


# RabbitMQ: every queue bound to one topic exchange under its own name (native delayed
# delivery, which quorum queues need for countdowns and retries, refuses direct exchanges)
EXCHANGE = Exchange("cityloop", type="topic", durable=True)


def all_queues(city: CityConfig) -> list[str]:
    return [*PIPELINE_QUEUES, *city.queues()]


def is_amqp(broker_url: str) -> bool:
    return broker_url.split("://", 1)[0] in ("amqp", "amqps", "pyamqp")


def declared_queues(city: CityConfig) -> list[Queue]:
    """The queues as RabbitMQ gets them: durable, replicated quorum queues (no priorities,
    which CityLoop does not use), each bound to ``EXCHANGE`` by its own name."""
    return [Queue(name, EXCHANGE, routing_key=name, durable=True,
                  queue_arguments={"x-queue-type": "quorum"})
            for name in dict.fromkeys(all_queues(city))]


def broker_settings(config: DispatchConfig) -> dict[str, object]:
    """Per broker: Redis needs a visibility timeout for unacknowledged messages, and a scan for
    them every 10 s (kombu scans every 10th interval, about 100 s, by default): the messages a
    SIGKILLed worker held come back a visibility timeout and at most 10 s after it died. RabbitMQ
    gets publisher confirms (a publish returns once the broker has the message) and the
    queue-per-agency layout declared up front rather than created on first use."""
    if not is_amqp(config.broker_url):
        return {"broker_transport_options": {"visibility_timeout": config.visibility_timeout_s,
                                             "unacked_restore_interval": 10, "unacked_restore_throttle": 1}}
    return {
        "broker_transport_options": {"confirm_publish": True},
        "task_queues": declared_queues(load_city(config.city_file)),
        "task_create_missing_queues": False,
        "task_default_exchange": EXCHANGE.name,
        "task_default_exchange_type": EXCHANGE.type,
        "task_default_routing_key": MAINTENANCE_QUEUE,
        "broker_heartbeat": 30,
    }


def configure(config: DispatchConfig) -> Celery:
    """Point the app at the broker, and count task and LLM metrics in this process (every
    process that runs or sends CityLoop work calls this). Task arguments are ids only;
    results are not stored."""
    from dispatch.metrics.instruments import instrument

    instrument()
    app.conf.update(
        broker_url=config.broker_url,
        broker_connection_retry_on_startup=True,
        **broker_settings(config),
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_proc_alive_timeout=120,  # a pool process loads the embedding model before its first task
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
            # nightly, 03:00 UTC: learned models retrained from history and corrections
            "retrain-learned-models": {"task": "cityloop.retrain", "schedule": crontab(hour=3, minute=0)},
        },
        worker_hijack_root_logger=False,
    )
    return app


def queue_depths(queues: list[str]) -> dict[str, int]:
    """Messages waiting in each queue the broker knows (one connection for all of them)."""
    found: dict[str, int] = {}
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
        for queue in queues:
            channel = conn.channel()
            try:
                found[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except conn.channel_errors:  # not declared yet (RabbitMQ closes the channel): nothing waits
                found[queue] = 0
            finally:
                with contextlib.suppress(*conn.connection_errors, *conn.channel_errors):
                    channel.close()
    return found

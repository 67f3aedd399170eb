"""The broker layout: RabbitMQ gets every queue declared as a quorum queue with publisher
confirms; Redis keeps its visibility timeout and nothing else changes."""

from __future__ import annotations

from dispatch.city.config import load_city
from dispatch.core.celery_app import all_queues, broker_settings, is_amqp
from dispatch.core.config import DispatchConfig
from tests.helpers.config import SAMPLE_CITY


def _config(broker_url: str) -> DispatchConfig:
    return DispatchConfig(database_url="postgresql://x/y", broker_url=broker_url, city_file=SAMPLE_CITY)


def test_rabbitmq_declares_every_queue_as_a_quorum_queue_with_publisher_confirms() -> None:
    settings = broker_settings(_config("amqp://guest:guest@127.0.0.1:5672//"))
    queues = settings["task_queues"]
    assert isinstance(queues, list)
    expected = all_queues(load_city(SAMPLE_CITY))
    assert [q.name for q in queues] == expected
    assert "agency.landscaping" in expected and "pipeline.understand" in expected
    for queue in queues:
        assert queue.queue_arguments == {"x-queue-type": "quorum"} and queue.durable
        assert queue.exchange.type == "topic" and queue.routing_key == queue.name  # delayed retries need topic
    assert settings["broker_transport_options"] == {"confirm_publish": True}
    assert settings["task_create_missing_queues"] is False


def test_redis_keeps_its_visibility_timeout_and_no_declared_queues() -> None:
    settings = broker_settings(_config("redis://127.0.0.1:6379/0"))
    assert settings == {"broker_transport_options": {"visibility_timeout": 300, "unacked_restore_interval": 10,
                                                     "unacked_restore_throttle": 1}}


def test_amqp_urls_are_told_apart() -> None:
    assert is_amqp("amqp://h//") and is_amqp("amqps://h//") and is_amqp("pyamqp://h//")
    assert not is_amqp("redis://h:6379/0") and not is_amqp("rediss://h:6379/0")

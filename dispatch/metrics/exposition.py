"""The ``/metrics`` page: this host's counted metrics (every process of it in multiprocess
mode) and the system-wide ones read at scrape time, in Prometheus' text format."""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from sqlalchemy import Engine

from dispatch.metrics.collectors import DatabaseCollector, QueueCollector, SystemCollector

__all__ = ["CONTENT_TYPE_LATEST", "MetricsPage", "counted_registry"]


def counted_registry() -> CollectorRegistry:
    """The metrics counted in processes: from the multiprocess folder when there is one,
    else this process's own."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)
    return registry


class MetricsPage:
    """Renders the page; built once per API process."""

    def __init__(self, *, engine: Engine, queues: Callable[[], list[str]],
                 depths: Callable[[list[str]], dict[str, int]]) -> None:
        self.counted = counted_registry()
        self.system = CollectorRegistry(auto_describe=False)
        self.system.register(SystemCollector({"database": DatabaseCollector(engine),
                                              "broker": QueueCollector(queues, depths)}))

    def render(self) -> bytes:
        return generate_latest(self.counted) + generate_latest(self.system)

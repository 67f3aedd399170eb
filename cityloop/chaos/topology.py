"""Which CityLoop processes a run starts, and which of them it kills.

``single``: one API, N workers on every queue, one beat (one host, as ``cityloop up`` runs).
``split``: the way a city runs across hosts: two APIs behind a balancer, a worker per kind
of work on its own queues (pipeline stages near vLLM, agency delivery, perception near the
cameras) and one beat; the chaos kills one worker of each kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dispatch.core.celery_app import MAINTENANCE_QUEUE, PERCEPTION_QUEUE, ROUTE_QUEUE, UNDERSTAND_QUEUE

TopologyKind = Literal["single", "split"]
PIPELINE_WORKER_QUEUES = (UNDERSTAND_QUEUE, ROUTE_QUEUE, MAINTENANCE_QUEUE)


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    args: tuple[str, ...]
    role: Literal["api", "worker", "beat"]
    kind: str = ""  # a worker's kind of work: the chaos kills one worker of each kind
    port: int | None = None


@dataclass(frozen=True)
class Topology:
    processes: tuple[ProcessSpec, ...]

    @property
    def apis(self) -> list[ProcessSpec]:
        return [p for p in self.processes if p.role == "api"]

    def victims(self) -> list[ProcessSpec]:
        """The first worker of each kind."""
        chosen: dict[str, ProcessSpec] = {}
        for p in self.processes:
            if p.role == "worker":
                chosen.setdefault(p.kind, p)
        return list(chosen.values())


def _worker(name: str, kind: str, queues: list[str] | None, concurrency: int) -> ProcessSpec:
    args = ["worker", "-n", f"{name}@%h", "--concurrency", str(concurrency)]
    if queues:
        args += ["-Q", ",".join(queues)]
    return ProcessSpec(name, tuple(args), "worker", kind)


def single(*, workers: int, concurrency: int, port: int) -> Topology:
    return Topology((
        ProcessSpec("api", ("api",), "api", port=port),
        *(_worker(f"worker-{i + 1}", "all", None, concurrency) for i in range(workers)),
        ProcessSpec("beat", ("beat",), "beat"),
    ))


def split(*, agency_queues: list[str], concurrency: int, ports: tuple[int, int]) -> Topology:
    return Topology((
        ProcessSpec("api-1", ("api",), "api", port=ports[0]),
        ProcessSpec("api-2", ("api",), "api", port=ports[1]),
        _worker("worker-pipeline", "pipeline", list(PIPELINE_WORKER_QUEUES), concurrency),
        _worker("worker-agency", "agency", sorted(set(agency_queues)), concurrency),
        _worker("worker-perception", "perception", [PERCEPTION_QUEUE], 1),
        ProcessSpec("beat", ("beat",), "beat"),
    ))

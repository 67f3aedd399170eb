"""The run's clients: events POSTed from a few threads, never too far ahead of the workers."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import httpx


class Poster:
    """Posts the bodies from ``clients`` threads, at most ``backlog`` ahead of ``processed``.

    With several ``base_urls`` (several API processes) the bodies alternate between them,
    and a body whose API does not answer is retried on the next one, as a load balancer would.
    """

    def __init__(self, base_urls: list[str], bodies: list[dict[str, object]], clients: int,
                 backlog: int) -> None:
        self.base_urls = base_urls
        self.bodies = bodies
        self.clients = clients
        self.backlog = backlog
        self.processed = 0  # written by the monitor loop
        self.accepted: list[str] = []
        self.per_api = [0] * len(base_urls)
        self.error = ""
        self.first_at = 0.0
        self.last_at = 0.0
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=clients)
        self._futures: list[Future[None]] = []

    def start(self) -> None:
        self.first_at = time.monotonic()
        self._futures = [self._pool.submit(self._run) for _ in range(self.clients)]

    def done(self) -> bool:
        return all(f.done() for f in self._futures)

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)

    def _take(self) -> tuple[int, dict[str, object]] | None:
        while not self._stop.is_set():
            with self._lock:
                if self._next >= len(self.bodies):
                    return None
                if self._next - self.processed < self.backlog:
                    self._next += 1
                    return self._next - 1, self.bodies[self._next - 1]
            time.sleep(0.02)
        return None

    def _run(self) -> None:
        clients = [httpx.Client(base_url=url, timeout=30.0) for url in self.base_urls]
        try:
            while (taken := self._take()) is not None:
                index, body = taken
                self._post(clients, index % len(clients), body)
        finally:
            for client in clients:
                client.close()

    def _post(self, clients: list[httpx.Client], first: int, body: dict[str, object]) -> None:
        """Retry until accepted: the external_id makes a repeat return the first event."""
        for attempt in range(120):
            api = (first + attempt) % len(clients)
            try:
                reply = clients[api].post("/api/events", json=body)
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            if reply.status_code in (200, 202):
                with self._lock:
                    self.accepted.append(f"{body['source']}:{body['external_id']}")
                    self.per_api[api] += 1
                    self.last_at = time.monotonic()
                return
            if reply.status_code < 500:
                self.error = f"POST /api/events -> {reply.status_code}: {reply.text[:300]}"
                self._stop.set()
                return
            time.sleep(0.5)
        self.error = f"POST /api/events for {body['external_id']} failed for a minute"
        self._stop.set()

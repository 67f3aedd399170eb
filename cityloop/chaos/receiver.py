"""A local webhook receiver that counts every request by its Idempotency-Key."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self


class WebhookReceiver:
    """Answers 200 to every POST and remembers its Idempotency-Key and ticket reference."""

    def __init__(self) -> None:
        self.keys: Counter[str] = Counter()
        self.references: dict[str, str] = {}
        self.unkeyed = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.record(self.headers.get("Idempotency-Key"), body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def record(self, key: str | None, body: bytes) -> None:
        with self._lock:
            if not key:
                self.unkeyed += 1
                return
            self.keys[key] += 1
            try:
                self.references[key] = str(json.loads(body).get("reference", ""))
            except (ValueError, AttributeError):
                self.references[key] = ""

    def snapshot(self) -> tuple[Counter[str], int]:
        with self._lock:
            return Counter(self.keys), self.unkeyed

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

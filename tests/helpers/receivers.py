"""Real local receivers for delivery tests: an HTTP server (webhook and Open311 paths) and
an SMTP server (aiosmtpd), both counting what they receive; and a city file whose
agency has every channel pointed at them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from aiosmtpd.controller import Controller

from cityloop.localservices import free_port
from tests.helpers.config import SAMPLE_CITY

WEBHOOK_SECRET = "hook-secret-for-tests"
OPEN311_KEY = "their-311-key"
ENV = {"TEST_HOOK_SECRET": WEBHOOK_SECRET, "TEST_311_KEY": OPEN311_KEY}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """Answers each path with the next status of its script (the last one repeats)."""

    url: str
    statuses: dict[str, list[int]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def answer(self, path: str) -> int:
        with self.lock:
            script = self.statuses.get(path, [200])
            status = script.pop(0) if len(script) > 1 else script[0]
            return status


def serve_http() -> tuple[HttpReceiver, Callable[[], None]]:
    state = HttpReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if state.delay_s:
                time.sleep(state.delay_s)
            with state.lock:
                state.received.append(Received(self.path, dict(self.headers), body))
            status = state.answer(self.path)
            payload = json.dumps([{"service_request_id": f"their-{len(state.received)}"}]).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return state, stop


class MailBox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def serve_smtp() -> Iterator[tuple[MailBox, int]]:
    box = MailBox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def city_file(tmp: Path, *, http_url: str | None, smtp_port: int | None, agency: str = "landscaping",
              max_tries: int = 3, extra: dict[str, Any] | None = None) -> Path:
    """The sample city with every channel of ``agency`` pointed at the local receivers."""
    data = yaml.safe_load(SAMPLE_CITY.read_text())
    for item in data["agencies"]:
        if item["code"] != agency:
            continue
        if http_url:
            item["webhook"] = {"url": f"{http_url}/hook", "secret_env": "TEST_HOOK_SECRET",
                               "timeout_s": 5}
            item["open311"] = {"url": f"{http_url}/311/requests.json",
                               "api_key_env": "TEST_311_KEY", "timeout_s": 5}
        if smtp_port:
            item["email"] = "desk@landscaping.example"
        item["delivery"] = {"max_tries": max_tries, "backoff_s": 0.2, "backoff_max_s": 1}
    if smtp_port:
        data["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "sender": "loop@riverton.example",
                        "timeout_s": 5}
    data.update(extra or {})
    path = tmp / "city.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def wait_until(check: Callable[[], bool], timeout_s: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")

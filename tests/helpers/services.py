"""The local services a test run uses: PostgreSQL and Redis probes, the run's own Redis
database, and real ``cityloop worker``/``beat`` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from dispatch.core.config import DispatchConfig
from tests.helpers.config import ROOT, child_env

OWNER_KEY = "cityloop:test-run-owner"
"""Set in the Redis database a test run claimed, so that no other run takes it."""


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def claim_redis_db() -> str:
    """A Redis database no other test run on this machine is using (runs may overlap)."""
    for db in range(15, 0, -1):
        url = f"redis://127.0.0.1:6379/{db}"
        client = redis.Redis.from_url(url)
        if client.dbsize() == 0 and client.set(OWNER_KEY, str(os.getpid()), nx=True):
            return url
    raise RuntimeError("no free Redis database (1-15) on 127.0.0.1:6379 for this test run")


def empty_broker(broker_url: str) -> None:
    """Lose every queued message; the database stays this run's."""
    client = redis.Redis.from_url(broker_url)
    client.flushdb()
    client.set(OWNER_KEY, str(os.getpid()))


class CeleryProcess:
    """A real ``cityloop worker`` (or ``beat``) in its own process group."""

    def __init__(self, config: DispatchConfig, log_dir: Path, command: str = "worker",
                 extra: list[str] | None = None) -> None:
        self.config = config
        self.command = command
        self.extra = extra or []
        self.log_path = log_dir / f"{command}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> CeleryProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cityloop", self.command, *self.extra], cwd=ROOT,
            env=child_env(self.config), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        return self

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            self.kill()
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

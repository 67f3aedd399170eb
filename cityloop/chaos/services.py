"""The chaos run's own parts: a redis-server with an append-only file, a scratch database,
and CityLoop processes (API, workers, beat), each in its own process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from sqlalchemy import create_engine, text

from cityloop.localservices import free_port, spawn_group, stop_groups

REDIS_SERVER = Path("/usr/bin/redis-server")
UNACKED_KEY = "unacked"  # kombu's hash of messages a worker holds but has not acknowledged


class ChaosError(RuntimeError):
    """The run could not be carried out (a part did not start, a process died)."""


class RedisBroker:
    """``redis-server`` on a free TCP port with ``appendonly yes`` in ``data_dir``.

    Every write is fsynced (``appendfsync always``), so a stop and a start on the same
    directory give back every message that was queued.
    """

    def __init__(self, data_dir: Path, executable: Path = REDIS_SERVER) -> None:
        if not executable.exists():
            raise ChaosError(f"{executable} not found: the chaos run needs a redis-server binary")
        self.data_dir = data_dir
        self.executable = executable
        self.port = free_port()
        self.log_path = data_dir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._proc = spawn_group([
            str(self.executable), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", "always",
            "--save", "", "--daemonize", "no", "--logfile", str(self.log_path),
        ])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ChaosError(f"redis-server exited with {self._proc.returncode}; see {self.log_path}")
            with contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError):
                if self.client().ping():
                    return
            time.sleep(0.1)
        raise ChaosError(f"redis-server did not answer within {timeout_s:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM: redis-server flushes its append-only file and exits."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_groups([proc], grace_s=30.0)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def pending(self) -> int | None:
        """Messages queued on any list plus those held unacknowledged; None while it is down."""
        try:
            with self.client() as client:
                keys = [k for k in client.scan_iter(count=1000) if client.type(k) == b"list"]
                queued = sum(int(client.llen(k)) for k in keys)
                return queued + int(client.hlen(UNACKED_KEY))
        except redis.RedisError:
            return None


class ScratchDatabase:
    """A database of its own on an existing PostgreSQL server: created, migrated, dropped."""

    def __init__(self, admin_url: str, name: str) -> None:
        self.admin_url = admin_url
        self.name = name
        base = admin_url.rsplit("/", 1)[0]
        self.url = f"{base}/{name}"

    def create(self) -> str:
        from dispatch.db import migrate

        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._execute(f'CREATE DATABASE "{self.name}"')
        migrate(self.url)
        return self.url

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _execute(self, sql: str) -> None:
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(sql))
        finally:
            admin.dispose()


class Child:
    """One ``python -m cityloop ...`` process, its own process group, its own log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        with self.log_path.open("ab") as log:
            self.proc = spawn_group([sys.executable, "-m", "cityloop", *self.args], env=self.env,
                                    stdout=log)
        return self

    def kill(self) -> None:
        """SIGKILL the whole group (the Celery parent and its pool children): a lost host."""
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_groups([proc], grace_s=20.0)

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise ChaosError(f"{self.name} exited with code {self.proc.returncode}; {self.log_path} "
                             f"ends with:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

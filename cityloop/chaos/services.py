"""The chaos run's own parts: a scratch database and CityLoop processes (API, workers, beat),
each in its own process group. The brokers it owns are in ``cityloop.chaos.brokers``."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from cityloop.localservices import spawn_group, stop_groups


class ChaosError(RuntimeError):
    """The run could not be carried out (a part did not start, a process died)."""


class ScratchDatabase:
    """A database of its own on an existing PostgreSQL server: created, migrated, dropped."""

    def __init__(self, admin_url: str, name: str) -> None:
        self.admin_url = admin_url
        self.name = name
        base = admin_url.rsplit("/", 1)[0]
        self.url = f"{base}/{name}"

    def create(self) -> str:
        from dispatch.core.db import migrate

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

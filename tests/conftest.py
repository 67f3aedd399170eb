"""Shared fixtures: real PostgreSQL, a real broker, the real local LLM server, real workers.

PostgreSQL and Redis on 127.0.0.1 are used where the machine has them (CI does); otherwise
the embedded ones that ``cityloop up`` uses are started. The LLM is always the real
llama.cpp server with SmolLM2-135M-Instruct.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from agents import LLMConfig
from dispatch.core.config import DispatchConfig

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CITY = ROOT / "cityloop" / "cities" / "riverton.yaml"
ARTIFACTS = ROOT / "test-artifacts"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = f"cityloop_test_{os.getpid()}"
    if _port_open(5432):
        admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        return
    from cityloop.localservices import EmbeddedPostgres

    with EmbeddedPostgres(tmp_path_factory.mktemp("pg"), database=name) as pg:
        yield pg.url


@pytest.fixture(scope="session")
def migrated_db(database_url: str) -> str:
    from dispatch.core.db import migrate

    migrate(database_url)
    return database_url


OWNER_KEY = "cityloop:test-run-owner"


def _claim_redis_db() -> str:
    """A Redis database no other test run on this machine is using (runs may overlap)."""
    for db in range(15, 0, -1):
        url = f"redis://127.0.0.1:6379/{db}"
        client = redis.Redis.from_url(url)
        if client.dbsize() == 0 and client.set(OWNER_KEY, str(os.getpid()), nx=True):
            return url
    raise RuntimeError("no free Redis database (1-15) on 127.0.0.1:6379 for this test run")


@pytest.fixture(scope="session")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if _port_open(6379):
        url = _claim_redis_db()
        yield url
        redis.Redis.from_url(url).flushdb()
        return
    from cityloop.localservices import RedisLite

    with RedisLite(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(scope="session")
def llm_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMConfig]:
    """The local llama.cpp server, or an external one (a real vLLM for contract runs) when
    CITYLOOP_TEST_LLM_BASE_URL (and CITYLOOP_TEST_LLM_MODEL, its served model name) is set."""
    external = os.environ.get("CITYLOOP_TEST_LLM_BASE_URL", "")
    if external:
        model = os.environ.get("CITYLOOP_TEST_LLM_MODEL", "") or LLMConfig().model
        yield LLMConfig(base_url=external, model=model, timeout_s=120, max_retries=1)
        return
    from cityloop.localservices import LlamaServer, free_port

    log_file = tmp_path_factory.mktemp("llm") / "llama.log"
    with LlamaServer(free_port(), threads=2, log_file=log_file) as server:
        yield LLMConfig(base_url=server.url, model=server.alias, timeout_s=180, max_retries=1)


DOWN_LLM = LLMConfig(base_url="http://127.0.0.1:9/v1", timeout_s=2, max_retries=0)


def make_dispatch_config(database_url: str, broker_url: str, llm: LLMConfig) -> DispatchConfig:
    return DispatchConfig(
        database_url=database_url, broker_url=broker_url, city_file=SAMPLE_CITY, llm=llm,
        visibility_timeout_s=10, worker_concurrency=2, stale_event_after_s=5, sweep_interval_s=3)


@pytest.fixture()
def clean_state(migrated_db: str, broker_url: str) -> Iterator[None]:
    """Empty tables and queues before each test that uses them."""
    engine = create_engine(migrated_db)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE deliveries, ticket_history, tickets, incidents, events "
                          "RESTART IDENTITY CASCADE"))
    engine.dispose()
    client = redis.Redis.from_url(broker_url)
    client.flushdb()
    client.set(OWNER_KEY, str(os.getpid()))
    yield


def child_env(config: DispatchConfig) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM__", "CELERY__"))}
    env.update({
        "DATABASE_URL": config.database_url, "BROKER_URL": config.broker_url,
        "CITY_FILE": str(config.city_file), "LLM__BASE_URL": config.llm.base_url,
        "LLM__MODEL": config.llm.model, "LLM__TIMEOUT_S": str(config.llm.timeout_s),
        "LLM__MAX_RETRIES": str(config.llm.max_retries),
        "CELERY__VISIBILITY_TIMEOUT_S": str(config.visibility_timeout_s),
        "CELERY__STALE_EVENT_AFTER_S": str(config.stale_event_after_s),
        "CELERY__SWEEP_INTERVAL_S": str(config.sweep_interval_s),
        "CITYLOOP_CONFIG": "/nonexistent/cityloop.yaml", "PYTHONUNBUFFERED": "1",
    })
    return env


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


@pytest.fixture()
def start_worker(tmp_path: Path) -> Iterator[object]:
    started: list[CeleryProcess] = []

    def _start(config: DispatchConfig, command: str = "worker",
               extra: list[str] | None = None) -> CeleryProcess:
        proc = CeleryProcess(config, tmp_path, command, extra).start()
        started.append(proc)
        return proc

    yield _start
    for proc in started:
        proc.stop()

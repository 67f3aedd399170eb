"""A running `cityloop up` records its endpoints; the other commands fill what is unset from them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cityloop.endpoints import Endpoints, endpoints_file, fill_from_running_up, forget, record, running
from cityloop.settings import Settings

RECORDED = dict(database_url="postgresql://cityloop@/cityloop?host=/var/run/pg",
                broker_url="redis+socket:///var/redis.sock", llm_base_url="http://127.0.0.1:8081/v1",
                llm_model="smollm2-135m-instruct", api_url="http://127.0.0.1:8000")


@pytest.fixture()
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No cityloop.yaml, no URLs in the environment, the data folder in ``tmp_path``."""
    for name in ("DATABASE_URL", "BROKER_URL", "LLM__BASE_URL", "LLM__MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CITYLOOP_CONFIG", str(tmp_path / "absent.yaml"))
    monkeypatch.setenv("EMBEDDED__DATA_DIR", str(tmp_path / "var"))
    return tmp_path / "var" / "endpoints.json"


def a_dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_running_up_fills_the_unset_urls_and_the_environment_wins(
        settings_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert endpoints_file(Settings()) == settings_env
    record(settings_env, Endpoints(**RECORDED, pid=os.getpid()))
    assert oct(settings_env.stat().st_mode & 0o777) == "0o600"  # URLs may hold passwords

    filled = fill_from_running_up(Settings())
    assert filled.database_url == RECORDED["database_url"]
    assert filled.broker_url == RECORDED["broker_url"]
    assert (filled.llm.base_url, filled.llm.model) == (RECORDED["llm_base_url"], RECORDED["llm_model"])

    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.example/city")
    monkeypatch.setenv("LLM__MODEL", "my-model")
    mixed = fill_from_running_up(Settings())
    assert mixed.database_url == "postgresql://app@db.example/city"
    assert mixed.broker_url == RECORDED["broker_url"]
    assert (mixed.llm.base_url, mixed.llm.model) == (RECORDED["llm_base_url"], "my-model")


def test_the_record_of_an_up_that_is_gone_is_ignored(settings_env: Path) -> None:
    record(settings_env, Endpoints(**RECORDED, pid=a_dead_pid()))
    assert running(settings_env) is None
    assert fill_from_running_up(Settings()).database_url == ""
    settings_env.write_text("{not json")
    assert running(settings_env) is None


def test_only_the_up_that_wrote_the_record_removes_it(settings_env: Path) -> None:
    record(settings_env, Endpoints(**RECORDED, pid=os.getpid()))
    forget(settings_env, pid=os.getpid() + 1)
    assert running(settings_env) is not None
    forget(settings_env, pid=os.getpid())
    assert not settings_env.exists()
    assert [p.name for p in settings_env.parent.iterdir()] == []  # no temporary file left behind

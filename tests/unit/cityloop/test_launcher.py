"""The launcher starts only the servers whose URL is not configured."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from cityloop.launcher import child_env, start_services
from cityloop.settings import Settings


def test_configured_servers_are_used_and_nothing_is_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CITYLOOP_CONFIG", str(tmp_path / "absent.yaml"))
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:pw@db.example/cityloop")
    monkeypatch.setenv("BROKER_URL", "amqp://guest:guest@mq.example//")
    monkeypatch.setenv("LLM__BASE_URL", "http://vllm.example:8000/v1")
    monkeypatch.setenv("LLM__MODEL", "Qwen/Qwen2.5-7B-Instruct")
    monkeypatch.setenv("EMBEDDED__DATA_DIR", str(tmp_path / "var"))
    settings = Settings()
    with ExitStack() as stack:
        endpoints = start_services(settings, stack)
        assert stack._exit_callbacks == type(stack._exit_callbacks)()  # nothing to stop
    assert endpoints.database_url == "postgresql://app:pw@db.example/cityloop"
    assert endpoints.llm_base_url == "http://vllm.example:8000/v1"
    assert not (tmp_path / "var").exists()
    printed = capsys.readouterr().out
    assert printed.count("external") == 3 and "pw@" not in printed
    env = child_env(settings, endpoints)
    assert env["LLM__MODEL"] == "Qwen/Qwen2.5-7B-Instruct"
    assert env["BROKER_URL"] == "amqp://guest:guest@mq.example//"

"""Settings: the YAML file sets values, environment variables override it, errors name the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cityloop.launcher import mask_url
from cityloop.settings import Settings


def test_environment_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cityloop.yaml"
    config.write_text("port: 9000\nllm:\n  model: from-yaml\n  timeout_s: 12\n")
    monkeypatch.setenv("CITYLOOP_CONFIG", str(config))
    monkeypatch.setenv("LLM__MODEL", "from-env")
    settings = Settings()
    assert settings.port == 9000
    assert settings.llm.model == "from-env"
    assert settings.llm.timeout_s == 12


def test_bad_value_names_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYLOOP_CONFIG", str(tmp_path / "absent.yaml"))
    monkeypatch.setenv("LLM__TIMEOUT_S", "-1")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert info.value.errors()[0]["loc"] == ("llm", "timeout_s")


def test_postgres_urls_use_psycopg3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CITYLOOP_CONFIG", str(tmp_path / "absent.yaml"))
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db/cityloop")
    assert Settings().sqlalchemy_url == "postgresql+psycopg://u:p@db/cityloop"


def test_passwords_are_masked_when_printed() -> None:
    assert mask_url("amqp://guest:s3cret@rabbit:5672//") == "amqp://guest:***@rabbit:5672//"
    assert "s3cret" not in mask_url("postgresql://db/x?password=s3cret")
    assert mask_url("redis+socket:///var/redis.sock") == "redis+socket:///var/redis.sock"

"""``cli``: run a ``cityloop`` command in-process, isolated from this machine's settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cityloop.cli import cityloop

RunCli = Callable[..., Result]


@pytest.fixture()
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """``cli(*args, input=None, **env)``: no cityloop.yaml, no URLs, and a data folder of its own
    (so a `cityloop up` running here does not fill them)."""
    for name in ("DATABASE_URL", "BROKER_URL", "LLM__BASE_URL", "LLM__MODEL", "CITY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CITYLOOP_CONFIG", str(tmp_path / "absent.yaml"))
    monkeypatch.setenv("EMBEDDED__DATA_DIR", str(tmp_path / "var"))

    def run(*args: str, input: str | None = None, **env: str) -> Result:
        return CliRunner().invoke(cityloop, list(args), input=input, env=env, prog_name="cityloop")

    return run

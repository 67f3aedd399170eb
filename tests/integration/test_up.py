"""`cityloop up --demo` on embedded defaults: PostgreSQL, redis, llama.cpp, worker, beat, API.

It must come up, turn the demo's events into tickets, report healthy, let the other commands
use its servers with no URL set, and on SIGTERM stop every process it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from cityloop.demo import sign_in
from cityloop.endpoints import running
from cityloop.localservices import free_port
from tests.helpers.config import ROOT

pytestmark = [pytest.mark.llm, pytest.mark.slow]


def _processes_mentioning(marker: str) -> list[str]:
    """Processes whose command line or environment mentions ``marker``."""
    found = []
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit() or int(pid_dir.name) == os.getpid():
            continue
        for name in ("cmdline", "environ"):
            try:
                data = (pid_dir / name).read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in data:
                found.append(f"{pid_dir.name}: {data[:160]}")
                break
    return found


def test_up_demo_makes_tickets_and_stops_everything(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "BROKER_URL") and not k.startswith("LLM__")}
    env.update({"EMBEDDED__DATA_DIR": str(data_dir), "PORT": str(port),
                "EMBEDDED__LLM_PORT": str(free_port()), "CITYLOOP_CONFIG": "/nonexistent.yaml",
                "PERCEPTION__MODELS_DIR": str(tmp_path / "models"), "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "cityloop", "up", "--demo"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                              daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 420
        while not any("demo: " in line and "tickets created" in line for line in lines):
            assert proc.poll() is None, "cityloop up exited:\n" + "".join(lines[-60:])
            assert time.monotonic() < deadline, "no demo result:\n" + "".join(lines[-60:])
            time.sleep(1)
        assert any("CityLoop is ready" in line for line in lines)
        assert any("demo: 8/8 tickets created" in line for line in lines), "".join(lines[-40:])
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
        assert {k: v["ok"] for k, v in health["checks"].items()} == {
            "database": True, "broker": True, "worker": True, "llm": True, "perception": False,
            "search": True}, health
        assert health["checks"]["search"]["vector_backend"] == "pgvector"  # the embedded PostgreSQL 18
        # no detector weights: perception says which file is missing, everything else works
        assert any("perception off" in line for line in lines), "".join(lines[:40])
        missing = str(tmp_path / "models" / "owlv2-base-patch16-ensemble" / "config.json")
        assert any(missing in line for line in lines) and missing in health["checks"]["perception"]["error"]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert client.get("/api/tickets").status_code == 401  # the inbox API needs a login
            sign_in(client, "dispatcher")  # a demo account, created in demo mode only
            assert len(client.get("/api/tickets").json()["items"]) == 8
        recorded = running(data_dir / "endpoints.json")
        assert recorded is not None and recorded.pid == proc.pid
        assert recorded.api_url == f"http://127.0.0.1:{port}"
        # the README's example, with no URL set: the command finds up's servers by itself
        kb = subprocess.run([sys.executable, "-m", "cityloop", "kb", "add", "cityloop/kb/riverton/"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert kb.returncode == 0, kb.stderr
        assert kb.stdout.startswith("added ") and "documents" in kb.stdout
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, "".join(lines[-40:])
    assert not (data_dir / "endpoints.json").exists()
    time.sleep(1)
    assert _processes_mentioning(str(data_dir)) == []

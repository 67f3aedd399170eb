"""The embedded servers of ``cityloop up`` start for real, answer, and leave nothing behind."""

from __future__ import annotations

from pathlib import Path

import httpx
import psutil
import pytest
import redis
import sqlalchemy as sa
from kombu.connection import Connection

from cityloop.localservices import (
    EmbeddedPostgres,
    LlamaServer,
    LocalServiceError,
    RedisLite,
    free_port,
    require_llama_server,
)


def _alive(pids: list[int]) -> list[int]:
    """The pids that still run (a zombie waiting to be reaped does not count)."""
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _tree(pid: int) -> list[int]:
    root = psutil.Process(pid)
    return [pid, *(child.pid for child in root.children(recursive=True))]


def _postmaster_tree(data_dir: Path) -> list[int]:
    pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    return _tree(pid)


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(text in part for part in proc.info["cmdline"] or []):
            found.append(proc.pid)
    return _alive(found)


def test_embedded_postgres_serves_sql_and_stops_every_process(tmp_path: Path) -> None:
    data_dir = tmp_path / "postgres"
    with EmbeddedPostgres(data_dir) as pg:
        assert pg.url.startswith("postgresql+psycopg://postgres@/cityloop?host=")
        engine = sa.create_engine(pg.url)
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT 1, current_database()")).one()
        engine.dispose()
        server_pids = _postmaster_tree(data_dir)
        assert _alive(server_pids)

    assert _alive(server_pids) == []
    assert _processes_mentioning(str(data_dir)) == []
    assert tuple(row) == (1, "cityloop")


def test_embedded_postgres_keeps_data_across_restarts(tmp_path: Path) -> None:
    service = EmbeddedPostgres(tmp_path / "postgres")
    engine = sa.create_engine(service.start())
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE note (body text)"))
        conn.execute(sa.text("INSERT INTO note VALUES ('kept')"))
    engine.dispose()
    service.stop()
    service.stop()

    engine = sa.create_engine(service.start())
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT body FROM note")).scalar_one() == "kept"
    finally:
        engine.dispose()
        service.stop()


def test_redislite_answers_on_its_socket_and_stops(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    with RedisLite(data_dir) as service:
        sock = service.url.removeprefix("redis+socket://")
        assert service.url.startswith("redis+socket:///") and Path(sock).is_socket()
        with redis.Redis(unix_socket_path=sock) as client:
            assert client.ping()
            client.set("greeting", "hello")
            assert client.get("greeting") == b"hello"
        assert service.pid is not None
        server_pids = _tree(service.pid)
        assert _processes_mentioning(sock) == [service.pid]

    assert _alive(server_pids) == []
    assert not Path(sock).exists()
    service.stop()


def test_redislite_url_carries_messages_through_kombu(tmp_path: Path) -> None:
    """Celery's transport layer accepts the ``redis+socket://`` URL as a broker."""
    with RedisLite(tmp_path / "redis") as service:
        conn = Connection(service.url)  # type: ignore[no-untyped-call]
        try:
            queue = conn.SimpleQueue("cityloop-test")  # type: ignore[no-untyped-call]
            queue.put({"ticket": 7})
            message = queue.get(timeout=5)
            message.ack()
            queue.close()
        finally:
            conn.release()  # type: ignore[no-untyped-call]
    assert message.payload == {"ticket": 7}


def _llama_installed() -> bool:
    try:
        require_llama_server()
    except LocalServiceError:
        return False
    return True


@pytest.mark.llm
@pytest.mark.skipif(
    not _llama_installed(), reason="llama-cpp-python[server] is not installed (embedded LLM)"
)
def test_llama_server_answers_a_chat_completion_and_stops(tmp_path: Path) -> None:
    server = LlamaServer(free_port(), threads=2, log_file=tmp_path / "llama.log")
    with server:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/v1")
        models = httpx.get(f"{server.url}/models", timeout=10).json()
        response = httpx.post(
            f"{server.url}/chat/completions",
            json={
                "model": "smollm2-135m-instruct",
                "messages": [{"role": "user", "content": "Name one colour."}],
                "max_tokens": 8,
                "temperature": 0,
            },
            timeout=120,
        )
        assert server.pid is not None
        server_pids = _tree(server.pid)

    assert [m["id"] for m in models["data"]] == ["smollm2-135m-instruct"]
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"].strip()
    assert server_pids and _alive(server_pids) == []

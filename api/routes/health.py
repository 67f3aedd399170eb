"""GET /health: the database, the broker, the worker, the LLM and perception, each on its own."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from fastapi import APIRouter, Response
from sqlalchemy import text

from api.deps import RuntimeDep
from dispatch.core.celery_app import app as celery_app
from dispatch.core.runtime import Runtime

router = APIRouter(tags=["health"])


def _timed(check: Any) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        detail = check()
        result = {"ok": True, **(detail or {})}
    except Exception as exc:  # a health check reports, it never raises
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.perf_counter() - start) * 1000, 1)
    return result


def _database(rt: Runtime) -> dict[str, Any]:
    with rt.engine.connect() as conn:
        conn.execute(text("SET LOCAL statement_timeout = 2000"))
        version = conn.execute(text("SELECT alembic_version.version_num FROM alembic_version")).scalar()
    return {"schema": version}


def _broker() -> dict[str, Any]:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return {"transport": conn.transport_cls if isinstance(conn.transport_cls, str) else "ok"}


def _worker() -> dict[str, Any]:
    replies = celery_app.control.ping(timeout=1.0)
    if not replies:
        raise RuntimeError("no worker answered a ping within 1 s")
    return {"workers": sorted(name for reply in replies for name in reply)}


def _llm(rt: Runtime) -> dict[str, Any]:
    llm = rt.config.llm
    if not llm.enabled or not llm.base_url:
        raise RuntimeError("no LLM configured; events are routed by rules and marked for triage")
    reply = httpx.get(f"{llm.base_url.rstrip('/')}/models", timeout=2.0,
                      headers={"Authorization": f"Bearer {llm.api_key}"})
    reply.raise_for_status()
    models = [m.get("id") for m in reply.json().get("data", [])]
    return {"model": llm.model, "served": models}


def _perception(rt: Runtime) -> dict[str, Any]:
    """Whether the detector's weights are there, and what each camera's worker last reported."""
    from api.routes.cameras import camera_states
    from perception.loading import status

    state = status(rt.config.perception)
    with rt.factory() as db:
        cameras = camera_states(db, [c.id for c in rt.city.cameras])
    detail = {"backend": state.backend, "model": state.model,
              "cameras": {cid: s["state"] for cid, s in cameras.items()}}
    if not state.on:
        raise RuntimeError(f"{state.reason}; cameras: {detail['cameras'] or 'none'}")
    return detail


def _search(rt: Runtime) -> dict[str, Any]:
    """Which index answers semantic search ("ask", "show similar"): pgvector or numpy."""
    from dispatch.ask.vectors import detect

    backend = detect(rt.engine)
    return {"vector_backend": backend.name, "detail": backend.detail,
            "embeddings": rt.embedder is not None}


@router.get("/health")
def health(rt: RuntimeDep, response: Response) -> dict[str, Any]:
    checks = {"database": lambda: _database(rt), "broker": _broker,
              "worker": _worker, "llm": lambda: _llm(rt), "perception": lambda: _perception(rt),
              "search": lambda: _search(rt)}
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = {name: pool.submit(_timed, check) for name, check in checks.items()}
        results = {name: future.result() for name, future in futures.items()}
    essential = results["database"]["ok"] and results["broker"]["ok"]
    everything = all(r["ok"] for r in results.values())
    response.status_code = 200 if essential else 503
    status = "ok" if everything else ("degraded" if essential else "down")
    return {"status": status, "city": rt.city.city.name, "checks": results}

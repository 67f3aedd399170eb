"""Per-process resources: engine, session factory, city config and LLM client.

Built once per process on first use (after the fork in Celery's prefork pool, in the
FastAPI lifespan for the API), never at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from agents import build_chat_model
from agents.duplicates import DuplicatePolicy
from agents.embeddings import Embedder, embeddings_available, shared_embedder
from dispatch.city.config import CityConfig, load_city
from dispatch.core.config import DispatchConfig
from dispatch.core.db import make_engine, make_session_factory


@dataclass
class Runtime:
    config: DispatchConfig
    city: CityConfig
    engine: Engine
    factory: sessionmaker[Session]
    chat: BaseChatModel | None
    pid: int
    # Loads its model on first use; None when the 'ml' extra is not installed.
    embedder: Embedder | None = None
    duplicates: DuplicatePolicy | None = None

    def close(self) -> None:
        self.engine.dispose()


def build_runtime(config: DispatchConfig) -> Runtime:
    engine = make_engine(config.database_url)
    return Runtime(
        config=config, city=load_city(config.city_file), engine=engine,
        factory=make_session_factory(engine), chat=build_chat_model(config.llm), pid=os.getpid(),
        embedder=shared_embedder() if embeddings_available() else None,
        duplicates=DuplicatePolicy(),
    )


_config: DispatchConfig | None = None
_runtime: Runtime | None = None


def set_config(config: DispatchConfig) -> None:
    global _config, _runtime
    _config = config
    _runtime = None


def get_runtime() -> Runtime:
    """The runtime of this process; rebuilt after a fork so no connection is shared."""
    global _runtime
    if _config is None:
        raise RuntimeError("dispatch is not configured: call dispatch.core.runtime.set_config first")
    if _runtime is None or _runtime.pid != os.getpid():
        _runtime = build_runtime(_config)
    return _runtime

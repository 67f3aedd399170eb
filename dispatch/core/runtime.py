"""Per-process resources: engine, session factory, city config and LLM client.

Built once per process on first use (after the fork in Celery's prefork pool, in the
FastAPI lifespan for the API), never at import time.
"""

from __future__ import annotations

import logging
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
from dispatch.learning.current import CurrentModels

log = logging.getLogger(__name__)


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
    # the current learned category and agency models, loaded once (re-checked every few minutes)
    learned: CurrentModels | None = None

    def close(self) -> None:
        self.engine.dispose()


def build_runtime(config: DispatchConfig) -> Runtime:
    engine = make_engine(config.database_url, pre_ping=config.db_pre_ping)
    factory = make_session_factory(engine)
    return Runtime(
        config=config, city=load_city(config.city_file), engine=engine,
        factory=factory, chat=build_chat_model(config.llm), pid=os.getpid(), learned=CurrentModels(factory),
        embedder=shared_embedder(config.embeddings) if embeddings_available() else None,
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


def warm(*, embedder: bool) -> None:
    """Build this process's runtime now, and load the embedding model when ``embedder``
    (about 20 s on 2 busy cores), so that the first task does not wait for either."""
    from agents.classifier import classify_embedding
    from dispatch.incidents.flows import category_specs

    rt = get_runtime()
    if embedder and rt.embedder is not None:
        try:  # the categories' own vectors are embedded once, on the first classification
            classify_embedding(rt.embedder, text="warm up", categories=category_specs(rt.city),
                               fallback_code=rt.city.fallback_category)
        except (OSError, RuntimeError, ValueError, ImportError) as exc:
            log.warning("embedding model not loaded at start (%s); the first event tries again", exc)

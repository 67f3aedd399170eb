"""Request dependencies: the per-process runtime and a database session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.config import ApiConfig
from dispatch.core.runtime import Runtime, get_runtime


def runtime() -> Runtime:
    return get_runtime()


def api_config(request: Request) -> ApiConfig:
    return request.app.state.config  # type: ignore[no-any-return]


def db_session(rt: Annotated[Runtime, Depends(runtime)]) -> Iterator[Session]:
    with rt.factory() as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(runtime)]
SessionDep = Annotated[Session, Depends(db_session)]
ConfigDep = Annotated[ApiConfig, Depends(api_config)]

"""An API whose city points an agency's channels at the local receivers, and a ticket's
delivery rows by channel."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.config import ApiConfig
from dispatch.core.config import DispatchConfig
from dispatch.core.runtime import get_runtime
from dispatch.delivery.models import Delivery
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.receivers import city_file
from tests.helpers.webauth import login


@contextmanager
def running(config: DispatchConfig) -> Iterator[TestClient]:
    """The API with ``config``, signed in as a dispatcher."""
    with TestClient(create_app(ApiConfig(dispatch=config))) as client:
        login(client, "ann", role="dispatcher")
        yield client


def configured(tmp_path: Path, migrated_db: str, broker_url: str, **city: Any) -> DispatchConfig:
    """The test config with a city file from ``receivers.city_file(tmp_path, **city)``."""
    base = make_dispatch_config(migrated_db, broker_url, DOWN_LLM)
    return base.model_copy(update={"city_file": city_file(tmp_path, **city)})


def rows(ticket_id: int) -> dict[str, Delivery]:
    with get_runtime().factory() as db:
        return {d.channel: d for d in db.scalars(select(Delivery).where(Delivery.ticket_id == ticket_id))}

"""The endpoints a running ``cityloop up`` serves, recorded in its data folder.

``up`` writes ``<embedded.data_dir>/endpoints.json`` (atomically, mode 0600: URLs may hold
passwords) once its servers run and the schema is migrated, and removes it when it stops.
Every other command fills each URL that the environment and ``cityloop.yaml`` leave empty
from that file, so ``cityloop kb add ...`` works beside a running ``up`` with nothing set.
A file whose ``up`` no longer runs (killed, machine rebooted) is ignored.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from cityloop.settings import Settings

FILE_NAME = "endpoints.json"


class Endpoints(BaseModel):
    """What one ``cityloop up`` serves: the URLs in use and the launcher's process id."""

    model_config = ConfigDict(frozen=True)

    database_url: str
    broker_url: str
    llm_base_url: str
    llm_model: str
    api_url: str = ""
    pid: int = 0


def endpoints_file(settings: Settings) -> Path:
    """Where ``up`` records its endpoints for these settings (inside the data folder)."""
    return settings.embedded.data_dir.expanduser().resolve() / FILE_NAME


def record(path: Path, endpoints: Endpoints) -> None:
    """Write ``endpoints`` to ``path`` so that a reader sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(endpoints.model_dump_json(indent=2))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def forget(path: Path, pid: int) -> None:
    """Remove ``path`` if it is the record of process ``pid`` (not of a later ``up``)."""
    recorded = _read(path)
    if recorded is not None and recorded.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def running(path: Path) -> Endpoints | None:
    """The endpoints recorded at ``path`` while the ``up`` that wrote them runs, else None."""
    recorded = _read(path)
    return recorded if recorded is not None and _alive(recorded.pid) else None


def fill_from_running_up(settings: Settings) -> Settings:
    """``settings`` with each empty URL taken from a running ``up``; set values always win."""
    recorded = running(endpoints_file(settings))
    if recorded is None:
        return settings
    update: dict[str, object] = {}
    if not settings.database_url and recorded.database_url:
        update["database_url"] = recorded.database_url
    if not settings.broker_url and recorded.broker_url:
        update["broker_url"] = recorded.broker_url
    if not settings.llm.base_url and recorded.llm_base_url:
        llm: dict[str, object] = {"base_url": recorded.llm_base_url}
        if "model" not in settings.llm.model_fields_set:  # the model that server serves
            llm["model"] = recorded.llm_model
        update["llm"] = settings.llm.model_copy(update=llm)
    return settings.model_copy(update=update) if update else settings


def _read(path: Path) -> Endpoints | None:
    try:
        return Endpoints.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):  # ValidationError covers malformed JSON too
        return None  # absent or unreadable: as if no ``up`` ran


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True

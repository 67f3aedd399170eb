"""The Celery base class of the guarded tasks: an item that made its task fail
``FAILURES_BEFORE_QUARANTINE`` times is quarantined and no longer run.

The item is the task's first argument (an event or incident id, a ticket id). Counting
needs the database; when that is away, the task runs (and retries) as it would unguarded.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.exceptions import Ignore
from sqlalchemy.exc import SQLAlchemyError

from dispatch.core.db import transaction
from dispatch.core.runtime import get_runtime
from dispatch.quarantine import service

log = logging.getLogger(__name__)


def item_of(args: tuple[Any, ...] | list[Any] | None) -> str:
    return str(args[0]) if args else ""


class Guarded(Task):  # type: ignore[misc]
    """Skips a quarantined item; counts final failures; forgets them after a success."""

    def before_start(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        item = item_of(args)
        try:
            with transaction(get_runtime().factory) as db:
                row = service.failures_of(db_session=db, task=self.name, item=item)
                quarantined, counted = (row is not None and row.quarantined_at is not None,
                                        row is not None)
        except SQLAlchemyError as exc:
            log.warning("%s[%s]: quarantine not checked (%s)", self.name, item, exc)
            return
        if quarantined:
            log.warning("%s[%s]: item is quarantined; not run", self.name, item)
            raise Ignore()
        self.request.quarantine_counted = counted

    def on_success(self, retval: Any, task_id: str, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> None:
        if not getattr(self.request, "quarantine_counted", False):
            return
        try:
            with transaction(get_runtime().factory) as db:
                service.clear(db_session=db, task=self.name, item=item_of(args))
        except SQLAlchemyError as exc:
            log.warning("%s[%s]: failure count not cleared (%s)", self.name, item_of(args), exc)

    def on_failure(self, exc: Exception, task_id: str, args: tuple[Any, ...],
                   kwargs: dict[str, Any], einfo: Any) -> None:
        item = item_of(args)
        try:
            with transaction(get_runtime().factory) as db:
                newly = service.record_failure(db_session=db, task=self.name, item=item,
                                               error=service.describe(exc))
        except SQLAlchemyError as db_exc:
            log.warning("%s[%s]: failure not counted (%s)", self.name, item, db_exc)
            return
        if newly:
            log.error("%s[%s]: quarantined after %d failures; last: %s", self.name, item,
                      service.FAILURES_BEFORE_QUARANTINE, service.describe(exc))

"""Camera re-check: after a camera-sourced ticket is resolved, look at the zone again.

``schedule`` finds resolutions of camera tickets (origin event ``source == "camera"``
with ``camera_id``, ``zone``, ``box`` and ``category`` in its attributes) and writes one
``rechecks`` row per resolution, due ``rechecks.delay_minutes`` later. ``run_due`` hands
each due row to a ``RecheckRunner``: still there -> the ticket is reopened with the new
snapshot as evidence; gone -> recorded as cleared (and closed when configured); no runner
or a runner that fails -> recorded as skipped with the reason, never retried in a loop.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, Field
from sqlalchemy import exists, select
from sqlalchemy.orm import Session, sessionmaker

from dispatch.cameras.models import Recheck
from dispatch.city.config import CityConfig
from dispatch.core.db import transaction
from dispatch.i18n import explain
from dispatch.incidents.models import Incident
from dispatch.intake.models import Event
from dispatch.tickets.lifecycle import next_status
from dispatch.tickets.models import Ticket, TicketHistory
from dispatch.tickets.service import record

log = logging.getLogger(__name__)
ACTOR = "system:recheck"
MAX_SNAPSHOT_BYTES = 5_000_000
MAX_TEXT = 500


class RecheckResult(BaseModel):
    still_present: bool
    snapshot_jpeg: bytes | None = None
    score: float | None = None
    detail: str = Field(default="", max_length=2000)


class RecheckRunner(Protocol):
    """Looks at one camera zone now. Raise ``RecheckUnavailable`` when it cannot."""

    def check(self, camera_id: str, zone: str, category: str,
              box: list[float] | None) -> RecheckResult: ...


class RecheckUnavailable(Exception):
    """Perception is off, the camera does not answer, or no model is loaded."""


_runner: RecheckRunner | None = None


def register_runner(runner: RecheckRunner | None) -> None:
    """The process's runner (set by the composition when perception is on)."""
    global _runner
    _runner = runner


def registered_runner() -> RecheckRunner | None:
    return _runner


def _camera_target(attributes: dict[str, Any] | None) -> tuple[dict[str, Any], str | None]:
    attrs = attributes or {}
    target = {"camera_id": attrs.get("camera_id"), "zone": attrs.get("zone"),
              "category": attrs.get("category")}
    missing = [k for k, v in target.items() if not isinstance(v, str) or not v.strip()]
    box = attrs.get("box")
    if box is not None and not (isinstance(box, list) and len(box) == 4
                                and all(isinstance(x, int | float) for x in box)):
        return target, "attributes.box: expected [x1, y1, x2, y2] numbers"
    target["box"] = [float(x) for x in box] if box is not None else None
    if missing:
        return target, "attributes missing: " + ", ".join(missing)
    return target, None


def schedule(*, db_session: Session, city: CityConfig, limit: int = 200) -> list[int]:
    """One re-check per resolution of a camera ticket. Returns the new re-check ids."""
    if city.rechecks is None:
        return []
    delay = timedelta(minutes=city.rechecks.delay_minutes)
    scheduled = exists().where(Recheck.resolution_id == TicketHistory.id)
    stmt = (select(TicketHistory, Ticket, Event)
            .join(Ticket, Ticket.id == TicketHistory.ticket_id)
            .join(Incident, Incident.id == Ticket.incident_id)
            .join(Event, Event.id == Incident.origin_event_id)
            .where(TicketHistory.action == "resolve", Ticket.status == "resolved",
                   Event.source == "camera", ~scheduled)
            .order_by(TicketHistory.id).limit(limit))
    created = []
    for entry, ticket, event in db_session.execute(stmt).tuples():
        target, problem = _camera_target(event.attributes)
        row = Recheck(ticket_id=ticket.id, resolution_id=entry.id,
                      camera_id=str(target["camera_id"] or "")[:120],
                      zone=str(target["zone"] or "")[:120],
                      category=str(target["category"] or ticket.category)[:64],
                      box=target["box"], due_at=entry.at + delay, status="pending")
        if problem is not None:
            row.status, row.detail, row.ran_at = "skipped", problem, datetime.now(UTC)
        db_session.add(row)
        db_session.flush()
        created.append(row.id)
    return created


def due(*, db_session: Session, now: datetime | None = None, limit: int = 50) -> list[int]:
    now = now or datetime.now(UTC)
    stmt = (select(Recheck.id).where(Recheck.status == "pending", Recheck.due_at <= now)
            .order_by(Recheck.due_at).limit(limit))
    return list(db_session.scalars(stmt))


def _look(runner: RecheckRunner | None, row: Recheck) -> RecheckResult | str:
    """The runner's answer, or why there is none."""
    if runner is None:
        return explain.RECHECK_OFF()
    try:
        return runner.check(row.camera_id, row.zone, row.category, row.box)
    except RecheckUnavailable as exc:
        return explain.RECHECK_UNAVAILABLE(error=exc)[:MAX_TEXT]
    except Exception as exc:  # a runner bug must not become a retry loop
        log.exception("re-check %s: the runner failed", row.id)
        return explain.RECHECK_FAILED(error=f"{type(exc).__name__}: {exc}")[:MAX_TEXT]


def _snapshot(result: RecheckResult) -> tuple[bytes | None, str | None]:
    """The snapshot to keep, or why it was dropped."""
    data = result.snapshot_jpeg
    if data is None:
        return None, None
    if len(data) > MAX_SNAPSHOT_BYTES:
        return None, explain.SNAPSHOT_TOO_LARGE(size=len(data), limit=MAX_SNAPSHOT_BYTES)
    if not data.startswith(b"\xff\xd8"):
        return None, explain.SNAPSHOT_NOT_JPEG()
    return data, None


def recheck_note(row: Recheck, result: RecheckResult, dropped: str | None = None) -> str:
    """``camera c1 zone z: pothole still present (score 0.91); snapshot dropped: …. detail``"""
    where = {"camera": row.camera_id, "zone": row.zone, "category": row.category}
    if result.score is None:
        head = (explain.RECHECK_PRESENT if result.still_present else explain.RECHECK_GONE)(**where)
    else:
        scored = explain.RECHECK_PRESENT_SCORED if result.still_present else explain.RECHECK_GONE_SCORED
        head = scored(**where, score=result.score)
    finding = explain.SEPARATOR.join([head, *([dropped] if dropped else [])])
    detail = result.detail[:MAX_TEXT].strip()
    return explain.RECHECK_NOTE(finding=finding, detail=detail) if detail else \
        explain.RECHECK_FINDING(finding=finding)


def _apply(db: Session, city: CityConfig, row: Recheck, ticket: Ticket, result: RecheckResult) -> None:
    detail = result.detail[:MAX_TEXT]
    row.score, row.detail = result.score, detail
    data: dict[str, object] = {"recheck_id": row.id, "camera_id": row.camera_id, "zone": row.zone,
                               "score": result.score}
    if result.still_present:
        snapshot, dropped = _snapshot(result)
        row.snapshot, row.snapshot_content_type = snapshot, "image/jpeg" if snapshot else None
        if snapshot is not None:
            data["snapshot"] = f"/api/rechecks/{row.id}/snapshot"
        if ticket.status not in ("resolved", "closed"):
            row.status, row.detail = "skipped", f"still present, but the ticket is already {ticket.status}"
            return
        before = ticket.status
        ticket.status = next_status("reopen", before)
        row.status = "reopened"
        record(db_session=db, ticket=ticket, actor=ACTOR, action="reopen", from_status=before,
               note=recheck_note(row, result, dropped), data=data)
        return
    row.status = "cleared"
    record(db_session=db, ticket=ticket, actor=ACTOR, action="recheck_cleared",
           from_status=ticket.status,
           note=recheck_note(row, result),
           data=data)
    if city.rechecks is not None and city.rechecks.close_when_cleared and ticket.status == "resolved":
        ticket.status = next_status("close", "resolved")
        record(db_session=db, ticket=ticket, actor=ACTOR, action="close", from_status="resolved",
               note=explain.RECHECK_CLOSED(), data={"recheck_id": row.id})


def run_one(*, factory: sessionmaker[Session], city: CityConfig, runner: RecheckRunner | None,
            recheck_id: int) -> str | None:
    """Run one due re-check; returns its new status, or None when it was not pending."""
    with transaction(factory) as db:
        row = db.get(Recheck, recheck_id)
        if row is None or row.status != "pending":
            return None
        db.expunge(row)
    looked = _look(runner, row)
    with transaction(factory) as db:
        locked = db.scalar(select(Recheck).where(Recheck.id == recheck_id).with_for_update())
        if locked is None or locked.status != "pending":
            return None
        ticket = db.scalar(select(Ticket).where(Ticket.id == locked.ticket_id)
                           .with_for_update(of=Ticket))
        assert ticket is not None
        locked.ran_at = datetime.now(UTC)
        if isinstance(looked, str):
            locked.status, locked.detail = "skipped", looked
            record(db_session=db, ticket=ticket, actor=ACTOR, action="recheck_skipped",
                   from_status=ticket.status, note=explain.RECHECK_SKIPPED(why=looked),
                   data={"recheck_id": locked.id})
        else:
            _apply(db, city, locked, ticket, looked)
        return locked.status


def run_due(*, factory: sessionmaker[Session], city: CityConfig, runner: RecheckRunner | None,
            now: datetime | None = None) -> dict[int, str]:
    with transaction(factory) as db:
        ids = due(db_session=db, now=now)
    outcomes = {}
    for recheck_id in ids:
        status = run_one(factory=factory, city=city, runner=runner, recheck_id=recheck_id)
        if status is not None:
            outcomes[recheck_id] = status
    return outcomes

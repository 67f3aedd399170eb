"""Cameras over JSON: the configured cameras with their workers' state, and clip uploads.

Operators (dispatchers and admins) only: a camera's source may carry credentials and its
picture shows the street. ``POST /api/cameras/{id}/clips`` stores the clip, queues it for a
perception worker and answers 202 with the job; ``GET /api/clips/{job}`` tells how it went.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Response, UploadFile, status
from sqlalchemy import select

from api.auth import PostUserDep, UserDep
from api.deps import RuntimeDep, SessionDep
from dispatch.accounts.models import User
from dispatch.cameras.flows import submit_clip
from dispatch.cameras.models import CameraStatus, ClipJob
from dispatch.core.errors import NotFound
from dispatch.tickets.access import AccessDenied, sees_all_agencies
from perception.types import redact

router = APIRouter(tags=["cameras"])
STALE_AFTER = timedelta(seconds=60)


def _operator(user: User) -> None:
    if not sees_all_agencies(user):
        raise AccessDenied("only dispatchers and admins work with cameras")


def camera_states(db: Any, camera_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each camera's last reported state; ``no worker`` when none reported in the last minute."""
    rows = {r.camera_id: r for r in db.scalars(select(CameraStatus).where(CameraStatus.camera_id.in_(camera_ids)))}
    now = datetime.now(UTC)
    out: dict[str, dict[str, Any]] = {}
    for camera_id in camera_ids:
        row = rows.get(camera_id)
        if row is None:
            out[camera_id] = {"state": "no worker"}
        elif now - row.updated_at > STALE_AFTER:
            out[camera_id] = {"state": "no worker", "last_state": row.state,
                              "last_report": row.updated_at.isoformat()}
        else:
            out[camera_id] = {"state": row.state, "worker": row.worker, "last_report": row.updated_at.isoformat(),
                              **row.detail}
    return out


@router.get("/api/cameras")
def list_cameras(db: SessionDep, rt: RuntimeDep, who: UserDep) -> dict[str, Any]:
    _operator(who.user)
    states = camera_states(db, [c.id for c in rt.city.cameras])
    return {"items": [
        {"id": c.id, "name": c.name, "source": redact(c.source), "location": c.location.model_dump(),
         "detection_fps": c.detection_fps, "zones": [z.model_dump() for z in c.zones],
         "status": states[c.id]}
        for c in rt.city.cameras]}


def _job(job: ClipJob) -> dict[str, Any]:
    return {"id": str(job.id), "camera_id": job.camera_id, "filename": job.filename, "status": job.status,
            "size_bytes": job.size_bytes, "stats": job.stats, "events": job.events, "error": job.error,
            "created_at": job.created_at.isoformat() if job.created_at else None,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
            "links": {"self": f"/api/clips/{job.id}"}}


@router.post("/api/cameras/{camera_id}/clips", status_code=status.HTTP_202_ACCEPTED)
def upload_clip(
    camera_id: str, file: Annotated[UploadFile, File()], db: SessionDep, rt: RuntimeDep,
    who: PostUserDep, response: Response,
) -> dict[str, Any]:
    _operator(who.user)
    camera = rt.city.camera(camera_id)
    if camera is None:
        raise NotFound("camera", camera_id)
    settings = rt.config.perception
    from perception.loading import status as perception_status

    state = perception_status(settings)
    if not state.on:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return {"detail": state.reason, "perception": state.as_dict()}
    job_id, queued = submit_clip(
        db_session=db, spool_dir=settings.spool_dir, max_bytes=settings.max_clip_bytes,
        camera_id=camera.id, filename=file.filename, stream=file.file, submitted_by=who.user.username)
    with db.begin():
        job = db.get(ClipJob, job_id)
        assert job is not None
        body = _job(job)
    if not queued:
        body["note"] = "stored; the broker is unreachable, so the clip sweeper will queue it"
    return body


@router.get("/api/clips/{job_id}")
def get_clip(job_id: uuid.UUID, db: SessionDep, who: UserDep) -> dict[str, Any]:
    _operator(who.user)
    job = db.get(ClipJob, job_id)
    if job is None:
        raise NotFound("clip", job_id)
    return _job(job)

"""Cameras over JSON: the configured cameras with their workers' state, and clip uploads.

Operators (dispatchers and admins) only: a camera's source may carry credentials and its
picture shows the street. ``POST /api/cameras/{id}/clips`` stores the clip, queues it for a
perception worker and answers 202 with the job; ``GET /api/clips/{job}`` tells how it went.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Response, UploadFile, status
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy import select

from api.auth import PostUserDep, UserDep
from api.deps import RuntimeDep, SessionDep
from dispatch.accounts.models import User
from dispatch.cameras.models import CameraStatus, ClipJob
from dispatch.core.errors import InvalidField, NotFound
from dispatch.tickets.access import AccessDenied, sees_all_agencies
from perception.decode import redact

router = APIRouter(tags=["cameras"])
STALE_AFTER = timedelta(seconds=60)
CHUNK = 1 << 20
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"


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


def _probe(path: Path) -> None:
    """A container PyAV can open with a video stream, or InvalidField naming the file."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InvalidField("file", "the upload has no video stream")
            codec = container.streams.video[0].codec_context.name
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidField("file", f"not a readable video ({type(exc).__name__})") from None
    if not codec:
        raise InvalidField("file", "unsupported video codec")


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
    limit = settings.max_clip_bytes
    job_id = uuid.uuid4()
    spool = settings.spool_dir.expanduser()
    spool.mkdir(parents=True, exist_ok=True)
    safe = "".join(ch if ch in NAME_CHARS else "_" for ch in (file.filename or "clip"))[-100:] or "clip"
    path = spool / f"{job_id}.clip"
    size = 0
    try:
        with path.open("wb") as out:
            while chunk := file.file.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise InvalidField("file", f"the clip is larger than the limit of {limit} bytes")
                out.write(chunk)
        if size == 0:
            raise InvalidField("file", "the clip is empty")
        _probe(path)
    except InvalidField:
        path.unlink(missing_ok=True)
        raise
    except Exception:  # a disk or decoder error: leave nothing half-written behind
        path.unlink(missing_ok=True)
        raise
    try:
        with db.begin():
            job = ClipJob(id=job_id, camera_id=camera.id, filename=safe, path=str(path.resolve()),
                          size_bytes=size, status="queued", submitted_by=who.user.username, stats={},
                          events=[])
            db.add(job)
    except Exception:  # no job row points at the file: do not leave it in the spool
        path.unlink(missing_ok=True)
        raise
    from dispatch.cameras.tasks import enqueue_clip

    try:
        enqueue_clip(job_id)
    except (BrokerError, OSError):  # stored; the clip sweeper queues it when the broker is back
        pass
    with db.begin():
        return _job(db.get(ClipJob, job_id))  # type: ignore[arg-type]


@router.get("/api/clips/{job_id}")
def get_clip(job_id: uuid.UUID, db: SessionDep, who: UserDep) -> dict[str, Any]:
    _operator(who.user)
    job = db.get(ClipJob, job_id)
    if job is None:
        raise NotFound("clip", job_id)
    return _job(job)

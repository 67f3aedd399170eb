"""Clip uploads: spool the file, check it is a video, write the job, queue it for a worker.

The job row and the spooled file exist together or not at all. The job is queued after
its commit; if the broker is down then, the job stays ``queued`` and the clip sweeper
(``cityloop.sweep_clips``) sends it once the broker is back — the caller is told so.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import BinaryIO

from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.orm import Session

from dispatch.cameras.models import ClipJob
from dispatch.core.errors import InvalidField
from dispatch.core.queues import enqueue_clip

log = logging.getLogger(__name__)
CHUNK = 1 << 20
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"


def probe_video(path: Path) -> None:
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


def _spool(stream: BinaryIO, path: Path, limit: int) -> int:
    size = 0
    try:
        with path.open("wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise InvalidField("file", f"the clip is larger than the limit of {limit} bytes")
                out.write(chunk)
        if size == 0:
            raise InvalidField("file", "the clip is empty")
        probe_video(path)
    except BaseException:  # refused, or a disk or decoder error: leave nothing half-written
        path.unlink(missing_ok=True)
        raise
    return size


def submit_clip(
    *, db_session: Session, spool_dir: Path, max_bytes: int, camera_id: str, filename: str | None,
    stream: BinaryIO, submitted_by: str,
) -> tuple[uuid.UUID, bool]:
    """(job id, queued now). ``db_session`` must not be in a transaction; this flow owns it."""
    job_id = uuid.uuid4()
    spool = spool_dir.expanduser()
    spool.mkdir(parents=True, exist_ok=True)
    safe = "".join(ch if ch in NAME_CHARS else "_" for ch in (filename or "clip"))[-100:] or "clip"
    path = spool / f"{job_id}.clip"
    size = _spool(stream, path, max_bytes)
    try:
        with db_session.begin():
            db_session.add(ClipJob(id=job_id, camera_id=camera_id, filename=safe,
                                   path=str(path.resolve()), size_bytes=size, status="queued",
                                   submitted_by=submitted_by, stats={}, events=[]))
    except BaseException:  # no job row points at the file: do not leave it in the spool
        path.unlink(missing_ok=True)
        raise
    try:
        enqueue_clip(job_id)
    except (BrokerError, OSError) as exc:
        log.warning("clip job %s stored; the clip sweeper will queue it: %s", job_id, exc)
        return job_id, False
    return job_id, True

"""The Celery task that runs an uploaded clip through perception (queue ``perception.clips``).

Keyed by the clip job's id, which is also the pipeline's run id: a redelivered task re-runs
the same clip into the same track keys, so it refreshes events instead of duplicating them.
A job runs in one worker at a time: the run holds a PostgreSQL advisory lock on the job id
(on its own autocommit connection, released when the run ends or its process dies), so a
duplicate message (a broker redelivery of a long clip, a sweep) finds it taken and leaves.
The spooled clip is deleted once the job is done or has failed for good.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from dispatch.cameras.models import ClipJob
from dispatch.cameras.pipeline import camera_for_clip, run_camera, verify_prompts
from dispatch.cameras.recheck import register_runner
from dispatch.core.celery_app import app
from dispatch.core.db import transaction
from dispatch.core.queues import enqueue_clip, enqueue_understand
from dispatch.core.runtime import get_runtime
from dispatch.tasks import RETRY, TRANSIENT

log = logging.getLogger(__name__)
loaded_models: dict[str, Any] = {}  # this worker process's detector and verifier (load_models)


def load_models() -> tuple[Any, Any]:
    """The detector and verifier of this worker process, loaded on first use."""
    if "detector" not in loaded_models:
        from perception.loading import PerceptionOff, build_detector, build_verifier

        settings = get_runtime().config.perception
        detector = build_detector(settings)
        try:
            verifier = build_verifier(settings, verify_prompts(get_runtime().city))
        except PerceptionOff as exc:
            log.warning("CLIP verification is off: %s", exc)
            verifier = None
        # both or neither: a verifier that failed to load (out of memory, a bad config) is
        # tried again on the next job instead of leaving the cache half-filled
        loaded_models.update(detector=detector, verifier=verifier)
    return loaded_models["detector"], loaded_models["verifier"]


@contextlib.contextmanager
def job_lock(job_id: uuid.UUID) -> Iterator[bool]:
    """True while this process holds the job's advisory lock, False when another run has it."""
    key = func.hashtextextended(f"clip-job:{job_id}", 0)
    with get_runtime().engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        taken = bool(conn.scalar(select(func.pg_try_advisory_lock(key))))
        try:
            yield taken
        finally:
            if taken:
                conn.scalar(select(func.pg_advisory_unlock(key)))


def _spool_done(path: Path) -> None:
    path.unlink(missing_ok=True)  # the events keep their snapshots; the clip is not needed


def _finish(job_id: uuid.UUID, **values: Any) -> None:
    with transaction(get_runtime().factory) as db:
        job = db.get(ClipJob, job_id, with_for_update=True)
        if job is not None:
            for key, value in values.items():
                setattr(job, key, value)
            job.finished_at = datetime.now(UTC)


@app.task(name="cityloop.ingest_clip", **RETRY)
def ingest_clip(job_id: str) -> str:
    from perception.decode import SourceError
    from perception.loading import PerceptionOff
    from perception.pipeline import FrameMismatch

    rt = get_runtime()
    key = uuid.UUID(job_id)
    with job_lock(key) as mine:
        if not mine:
            return "running elsewhere"  # a duplicate message: the run that holds the lock finishes it
        with transaction(rt.factory) as db:
            job = db.get(ClipJob, key, with_for_update=True)
            if job is None or job.status in ("done", "failed"):
                return job.status if job else "missing"
            job.status = "running"
            camera_id, path = job.camera_id, Path(job.path)
        try:
            detector, verifier = load_models()
            camera = camera_for_clip(rt.city, camera_id, path)
            report = run_camera(city=rt.city, camera=camera, detector=detector, verifier=verifier,
                                factory=rt.factory, enqueue=enqueue_understand,
                                max_image_bytes=rt.config.max_image_bytes, run_id=job_id)
        except TRANSIENT:
            raise  # the database or broker is away: Celery retries the same job
        except (PerceptionOff, SourceError, FrameMismatch, ValueError) as exc:
            _finish(key, status="failed", error=str(exc)[:2000])
            _spool_done(path)
            return "failed"
        except Exception as exc:  # never leave a job "running" forever
            log.exception("clip job %s failed", job_id)
            _finish(key, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
            _spool_done(path)
            return "failed"
        _finish(key, status="done", stats=report.summary(), events=report.events[:1000], error=None)
        _spool_done(path)
        return "done"


class LazyRecheckRunner:
    """Loads this worker's detector on the first re-check; perception off → ``RecheckUnavailable``."""

    def check(self, camera_id: str, zone: str, category: str, box: list[float] | None) -> Any:
        from dispatch.cameras.recheck import RecheckUnavailable
        from dispatch.cameras.recheck_runner import PerceptionRecheckRunner
        from perception.loading import PerceptionOff

        try:
            detector, verifier = load_models()
        except PerceptionOff as exc:
            raise RecheckUnavailable(str(exc)) from None
        runner = PerceptionRecheckRunner(get_runtime().city, detector, verifier)
        return runner.check(camera_id, zone, category, box)


# every worker process that loads the tasks re-checks through perception (or skips, when off)
register_runner(LazyRecheckRunner())


@app.task(name="cityloop.sweep_clips", **RETRY)
def sweep_clips() -> int:
    """Queue again the clip jobs a lost message or a broker outage left waiting, and the ones
    left "running" by a run that no longer holds their lock (its worker died, or Celery ran out
    of retries while the database was away). Nothing is sent while the perception queue still
    holds messages: under a backlog, "old" means "still queued", not "lost"."""
    from datetime import timedelta

    from dispatch.core.celery_app import PERCEPTION_QUEUE
    from dispatch.tasks import queue_depth

    rt = get_runtime()
    if queue_depth(PERCEPTION_QUEUE) > 0:
        return 0
    cutoff = datetime.now(UTC) - timedelta(seconds=rt.config.stale_event_after_s)
    with transaction(rt.factory) as db:
        candidates = list(db.scalars(select(ClipJob.id).where(
            ClipJob.status.in_(("queued", "running")), ClipJob.created_at < cutoff)
            .order_by(ClipJob.created_at).limit(100)))
    lost = []
    for job_id in candidates:
        with job_lock(job_id) as free:  # held by a live run: not lost
            if free:
                lost.append(job_id)
    for job_id in lost:
        enqueue_clip(job_id)
    return len(lost)

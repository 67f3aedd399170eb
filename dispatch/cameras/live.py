"""Live camera workers: one thread per camera, each camera's state kept in ``camera_status``.

A stream source reconnects with backoff by itself; when the pipeline fails (a zone outside
the frame, the database away) the camera restarts after a pause and shows as "failed",
with the error, until it has run again for a while. One detector serves every camera; its
calls are serialised. Each status report is its own transaction.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import func

from dispatch.cameras.models import CameraStatus
from dispatch.cameras.pipeline import Enqueue, run_camera
from dispatch.city.config import CityConfig
from dispatch.core.db import transaction
from perception.sources import FrameSource, SourceHealth, open_source
from perception.types import redact

if TYPE_CHECKING:
    import numpy as np
    import supervision as sv

    from perception.config import CameraSpec
    from perception.detectors.base import Detector
    from perception.pipeline import Verifier
    from perception.types import Prompt

log = logging.getLogger(__name__)
PIPELINE_PAUSE_S = 10.0
STATUS_EVERY_S = 5.0
FAILED_FOR_S = 3 * PIPELINE_PAUSE_S  # how long a pipeline failure outranks the source's state


class PipelineFailure(NamedTuple):
    """The last time a camera's pipeline failed, what it said, and how often it restarted."""

    at: float  # time.monotonic()
    message: str
    restarts: int


def report_status(factory: sessionmaker[Session], *, camera_id: str, worker: str, health: SourceHealth,
                  failure: PipelineFailure | None = None) -> None:
    """Upsert the camera's row: the source's health, and "failed" while a pipeline failure is recent."""
    detail: dict[str, Any] = {
        "frames_read": health.frames_read, "frames_dropped": health.frames_dropped,
        "reconnects": health.reconnects, "last_error": health.last_error,
        "next_retry_in_s": health.next_retry_in_s, "source": health.source}
    state = str(health.state)
    if failure is not None:
        detail.update(pipeline_error=failure.message, pipeline_restarts=failure.restarts)
        if time.monotonic() - failure.at < FAILED_FOR_S:
            state = "failed"
    values = {"camera_id": camera_id, "worker": worker, "state": state, "detail": detail}
    with transaction(factory) as db:
        db.execute(insert(CameraStatus).values(**values).on_conflict_do_update(
            index_elements=["camera_id"], set_={**values, "updated_at": func.now()}))


class SerialDetector:
    """One detector shared by every camera thread: one call at a time."""

    def __init__(self, detector: Detector) -> None:
        self._detector = detector
        self._lock = threading.Lock()
        self.name: str = getattr(detector, "name", "detector")

    def detect(self, frames: Sequence[np.ndarray], prompts: Sequence[Prompt]) -> list[sv.Detections]:
        with self._lock:
            return self._detector.detect(frames, prompts)


@dataclass
class CameraWorkers:
    """Watch ``cameras`` until every file source ends (streams never do) or Ctrl+C."""

    city: CityConfig
    cameras: Sequence[CameraSpec]
    detector: Detector
    verifier: Verifier | None
    factory: sessionmaker[Session]
    enqueue: Enqueue
    max_image_bytes: int
    on_event: Callable[[dict[str, Any]], None]
    status_every_s: float = STATUS_EVERY_S
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{threading.get_native_id()}")
    _sources: dict[str, FrameSource] = field(default_factory=dict, init=False)
    _failures: dict[str, PipelineFailure] = field(default_factory=dict, init=False)

    def run(self) -> None:
        shared = SerialDetector(self.detector)
        self._sources = {c.id: open_source(c, policy="drop") for c in self.cameras}
        threads = [threading.Thread(target=self._watch, args=(c, shared), name=f"camera-{c.id}", daemon=True)
                   for c in self.cameras]
        for thread in threads:
            thread.start()
        try:
            while any(t.is_alive() for t in threads):
                self._report_all()
                time.sleep(self.status_every_s)
        except KeyboardInterrupt:
            pass
        finally:
            for source in self._sources.values():
                source.stop()

    def _watch(self, camera: CameraSpec, detector: SerialDetector) -> None:
        while True:  # the source reconnects; a pipeline error restarts the camera after a pause
            try:
                run_camera(city=self.city, camera=camera, detector=detector,
                           verifier=self.verifier, factory=self.factory, enqueue=self.enqueue,
                           max_image_bytes=self.max_image_bytes, source=self._sources[camera.id],
                           on_event=self.on_event)
                if not camera.is_stream:
                    return
            except Exception as exc:  # keep the worker alive; the camera's state says what happened
                log.exception("camera %s: pipeline failed; restarting in %.0f s", camera.id, PIPELINE_PAUSE_S)
                last = self._failures.get(camera.id)
                self._failures[camera.id] = PipelineFailure(
                    time.monotonic(), redact(f"{type(exc).__name__}: {exc}")[:500],
                    (last.restarts if last else 0) + 1)
                time.sleep(PIPELINE_PAUSE_S)
            self._sources[camera.id] = open_source(camera, policy="drop")

    def _report_all(self) -> None:
        for camera_id, source in list(self._sources.items()):
            try:
                report_status(self.factory, camera_id=camera_id, worker=self.worker, health=source.health(),
                              failure=self._failures.get(camera_id))
            except Exception as exc:  # the database may be briefly away; report next round
                log.warning("camera %s: could not report status: %s", camera_id, exc)

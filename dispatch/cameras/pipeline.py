"""Perception into the loop: run a camera's pipeline and hand each track to the intake.

Used by ``cityloop ingest`` (a recorded clip), the ``cityloop.ingest_clip`` task (a clip
uploaded through the API) and ``cityloop cameras run`` (live cameras). A camera event goes
through ``dispatch.intake.camera`` — the same ``create_event`` as ``POST /api/events`` — and,
once committed, onto the ``pipeline.understand`` queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from dispatch.city.config import CityConfig
from dispatch.core.db import transaction
from dispatch.intake import camera as camera_intake
from perception.config import CameraSpec
from perception.detectors.base import Detector
from perception.events import CameraEvent, PipelineStats
from perception.pipeline import CameraPipeline, Verifier
from perception.types import Prompt

log = logging.getLogger(__name__)
Enqueue = Callable[[str], None]


def city_prompts(city: CityConfig) -> list[Prompt]:
    """Every category's detector prompts at the category's threshold."""
    return [Prompt(category=c.code, text=text, threshold=c.detector_threshold)
            for c in city.categories for text in c.detector_prompts]


def verify_prompts(city: CityConfig) -> dict[str, Any]:
    """CLIP's texts per category: the detector prompts against the category's negatives."""
    from perception.verify import DEFAULT_NEGATIVES, CategoryPrompts

    return {c.code: CategoryPrompts(tuple(c.detector_prompts), tuple(c.verify_negatives or DEFAULT_NEGATIVES))
            for c in city.categories if c.detector_prompts}


def camera_for_clip(city: CityConfig, camera_id: str, clip: Path) -> CameraSpec:
    """The configured camera, reading a recorded clip instead of its live source."""
    camera = city.camera(camera_id)
    if camera is None:
        known = ", ".join(c.id for c in city.cameras) or "none configured"
        raise ValueError(f"camera: unknown camera {camera_id!r} (known: {known})")
    return camera.model_copy(update={"source": str(clip)})


def describe(event: CameraEvent) -> dict[str, Any]:
    """What a person reads about one camera event (no pixels)."""
    return {
        "kind": event.kind, "camera_id": event.camera_id, "track_id": event.track_id,
        "category": event.category, "zone": event.zone,
        "box": [round(float(v), 1) for v in event.box],
        "scores": {k: round(float(v), 3) for k, v in event.scores.items()},
        "time_s": round(event.time_s, 2), "frame": event.frame_index,
    }


@dataclass
class IngestReport:
    run_id: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    stats: PipelineStats = field(default_factory=PipelineStats)
    created: int = 0
    refreshed: int = 0

    def summary(self) -> dict[str, Any]:
        s = self.stats
        return {
            "run_id": self.run_id, "frames_decoded": s.frames_decoded, "frames_dropped": s.frames_dropped,
            "frames_to_detector": s.frames_detected, "detector_share": round(s.detector_share, 4),
            "events": dict(s.events), "events_created": self.created, "events_refreshed": self.refreshed,
        }


def submit_event(
    *, factory: sessionmaker[Session], city: CityConfig, event: CameraEvent, max_image_bytes: int,
    enqueue: Enqueue | None,
) -> camera_intake.IntakeResult:
    """Store one camera event (idempotent per track) and queue a new one for understanding."""
    try:
        with transaction(factory) as db:
            result = camera_intake.submit(db_session=db, city=city, event=event, run_id=event.run_id,
                                          max_image_bytes=max_image_bytes)
    except IntegrityError:  # the same track stored concurrently: refresh instead
        with transaction(factory) as db:
            result = camera_intake.submit(db_session=db, city=city, event=event, run_id=event.run_id,
                                          max_image_bytes=max_image_bytes)
    if result.created and enqueue is not None:
        try:
            enqueue(result.event_id)
        except (OSError, ConnectionError) as exc:  # the sweeper re-enqueues stored events
            log.warning("camera event %s stored; enqueue deferred to the sweeper: %s", result.event_id, exc)
    return result


def run_camera(
    *, city: CityConfig, camera: CameraSpec, detector: Detector, verifier: Verifier | None = None,
    factory: sessionmaker[Session] | None = None, enqueue: Enqueue | None = None,
    max_image_bytes: int = 5_000_000, run_id: str | None = None, source: Any = None,
    progress: Callable[[PipelineStats], None] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> IngestReport:
    """Run the pipeline to the source's end; store each event unless ``factory`` is None (a dry run)."""
    pipeline = CameraPipeline(camera, detector, city_prompts(city), verifier, progress=progress)
    report = IngestReport()
    for event in pipeline.run(source, run_id=run_id):
        line = describe(event)
        if factory is not None:
            result = submit_event(factory=factory, city=city, event=event,
                                  max_image_bytes=max_image_bytes, enqueue=enqueue)
            line["event_id"] = result.event_id
            report.created += int(result.created)
            report.refreshed += int(not result.created)
        report.events.append(line)
        if on_event is not None:
            on_event(line)
    report.run_id, report.stats = pipeline.run_id, pipeline.stats
    return report

"""The real ``RecheckRunner``: look at a camera zone now with the configured detector.

Grabs a few fresh frames from the camera's own source, runs the detector with the
category's prompts, keeps detections inside the zone (and near the original box when it is
known), verifies them with CLIP when a verifier is loaded, and answers with the best one's
snapshot as evidence. A camera that does not deliver a frame in time is
``RecheckUnavailable``: the re-check is recorded as skipped, not guessed.
"""

from __future__ import annotations

import threading
import time
from typing import cast

import numpy as np
import supervision as sv
from shapely.geometry import Point, Polygon

from dispatch.cameras.pipeline import city_prompts
from dispatch.cameras.recheck import RecheckResult, RecheckUnavailable
from dispatch.city.config import CityConfig
from perception.config import CameraSpec
from perception.decode import Frame, SourceError
from perception.detectors.base import Detector
from perception.pipeline import Verifier
from perception.snapshot import SnapshotRenderer
from perception.sources import open_source

NEAR_IOU = 0.1


class PerceptionRecheckRunner:
    def __init__(self, city: CityConfig, detector: Detector, verifier: Verifier | None = None, *,
                 frames: int = 3, timeout_s: float = 30.0, source_for: object = None) -> None:
        self.city, self.detector, self.verifier = city, detector, verifier
        self.frames, self.timeout_s = frames, timeout_s
        self.source_for = source_for or (lambda camera: open_source(camera, policy="drop"))
        self.renderer = SnapshotRenderer()

    def _grab(self, camera: CameraSpec) -> list[Frame]:
        try:
            source = self.source_for(camera)  # type: ignore[operator]
        except SourceError as exc:
            raise RecheckUnavailable(f"camera {camera.id}: {exc}") from None
        grabbed: list[Frame] = []
        deadline = time.monotonic() + self.timeout_s
        stop = getattr(source, "stop", None)
        # a camera that is down reconnects forever and yields nothing: the deadline must not
        # wait for a frame to be checked, so a timer stops the source and ends the loop
        timer = threading.Timer(self.timeout_s, stop) if stop is not None else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            for frame in source:
                grabbed.append(frame)
                if len(grabbed) >= self.frames or time.monotonic() > deadline:
                    break
        except SourceError as exc:
            raise RecheckUnavailable(f"camera {camera.id}: {exc}") from None
        finally:
            if timer is not None:
                timer.cancel()
            if stop is not None:
                stop()
        if not grabbed:
            raise RecheckUnavailable(f"camera {camera.id}: no frame within {self.timeout_s:.0f} s")
        return grabbed

    def check(self, camera_id: str, zone: str, category: str, box: list[float] | None) -> RecheckResult:
        camera = self.city.camera(camera_id)
        if camera is None:
            raise RecheckUnavailable(f"camera {camera_id!r} is no longer configured")
        area = next((z for z in camera.zones if z.name == zone), None)
        if area is None:
            raise RecheckUnavailable(f"camera {camera_id}: zone {zone!r} is no longer configured")
        prompts = camera.prompts([p for p in city_prompts(self.city) if p.category == category])
        if not prompts:
            raise RecheckUnavailable(f"camera {camera_id}: category {category!r} has no detector prompts")
        polygon = Polygon(area.polygon)
        best: tuple[float, Frame, list[float]] | None = None
        frames = self._grab(camera)
        for frame, detections in zip(frames, self.detector.detect([f.rgb() for f in frames], prompts),
                                     strict=True):
            kept = self._keep(frame, detections, polygon, box, category)
            for i in range(len(kept)):
                score = float(kept.data["clip_score"][i]) if "clip_score" in kept.data else float(
                    kept.confidence[i]) if kept.confidence is not None else 0.0
                if best is None or score > best[0]:
                    best = (score, frame, [float(v) for v in kept.xyxy[i]])
        if best is None:
            return RecheckResult(still_present=False, score=None,
                                 detail=f"no {category} in zone {zone} in {len(frames)} fresh frame(s)")
        score, frame, found = best
        snapshot = self.renderer.render(frame.rgb(), found, category)
        return RecheckResult(still_present=True, snapshot_jpeg=snapshot.jpeg, score=round(score, 4),
                             detail=f"{category} still in zone {zone} (score {score:.2f}) at {found}")

    def _keep(self, frame: Frame, detections: sv.Detections, polygon: Polygon, box: list[float] | None,
              category: str) -> sv.Detections:
        if len(detections) == 0:
            return detections
        names = detections.data.get("class_name", np.array([""] * len(detections)))
        near = (np.ones(len(detections), dtype=bool) if box is None
                else sv.box_iou_batch(np.asarray([box], dtype=float), detections.xyxy)[0] >= NEAR_IOU)
        mask = np.array([
            names[i] == category and near[i]
            and polygon.covers(Point((xyxy[0] + xyxy[2]) / 2, (xyxy[1] + xyxy[3]) / 2))
            for i, xyxy in enumerate(detections.xyxy)], dtype=bool)
        kept = cast(sv.Detections, detections[mask])
        if self.verifier is not None and len(kept):
            kept = self.verifier.verify(frame.rgb(), kept, [category])
        return kept

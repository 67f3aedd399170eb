"""One camera, end to end: source → gate → detector (→ verifier) → tracker → events with snapshots.

    pipeline = CameraPipeline(camera, detector, prompts)
    for event in pipeline.run():          # or run(source) with any iterable of ``Frame``
        ...                               # CameraEvent: new / update / end
    pipeline.stats                        # frames decoded, dropped, gated, sent to the detector

Each stage is its own module; this one only wires them and keeps the counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np
import supervision as sv

from perception.config import CameraSpec
from perception.decode import Frame
from perception.detectors.base import Detector
from perception.events import CameraEvent, PipelineStats
from perception.gate import GateSettings, MotionGate, Reason
from perception.snapshot import Snapshot, SnapshotRenderer
from perception.sources import FrameSource, open_source
from perception.track import EventTracker, TrackChange
from perception.types import Prompt


class Verifier(Protocol):
    def verify(
        self, frame_rgb: np.ndarray, detections: sv.Detections, categories: Sequence[str]
    ) -> sv.Detections:
        """Keep the detections that pass; add ``data["clip_score"]`` and ``data["embedding"]``."""
        ...


class FrameMismatch(ValueError):
    """The camera's zones or masks do not fit the frames its source delivers."""


class CameraPipeline:
    def __init__(
        self,
        camera: CameraSpec,
        detector: Detector,
        prompts: Sequence[Prompt],
        verifier: Verifier | None = None,
        *,
        gate: GateSettings | None = None,
        lost_frames: int = 5,
        max_confirm_runs: int = 2,
        renderer: SnapshotRenderer | None = None,
        progress: Callable[[PipelineStats], None] | None = None,
    ) -> None:
        self.camera, self.detector, self.verifier = camera, detector, verifier
        self.prompts = camera.prompts(prompts)
        if not self.prompts:
            raise ValueError(f"camera {camera.id}: none of the prompts' categories is watched by a zone")
        self.categories = list(dict.fromkeys(p.category for p in self.prompts))
        self.gate_settings = replace(gate or GateSettings(), recheck_interval_s=camera.recheck_interval_s)
        self.lost_frames, self.max_confirm_runs = lost_frames, max_confirm_runs
        self.renderer = renderer or SnapshotRenderer()
        self.progress = progress
        self.stats = PipelineStats()
        self.run_id = ""

    def run(
        self, source: Iterable[Frame] | None = None, *, run_id: str | None = None
    ) -> Iterator[CameraEvent]:
        """Process ``source`` (default: the camera's own) to its end, yielding events as they happen."""
        # a fixed run_id (a clip job's id) makes a re-run of the same clip name the same tracks
        self.run_id, self.stats = run_id or uuid.uuid4().hex[:12], PipelineStats()
        frames = open_source(self.camera) if source is None else source
        try:
            yield from self._run(frames)
        finally:
            if isinstance(frames, FrameSource):
                frames.stop()
                self.stats.frames_dropped = frames.frames_dropped

    def _run(self, frames: Iterable[Frame]) -> Iterator[CameraEvent]:
        gate = MotionGate(
            {z.name: z.polygon for z in self.camera.zones},
            [m.polygon for m in self.camera.masks],
            self.gate_settings,
        )
        tracker = EventTracker(self.camera, lost_frames=self.lost_frames)
        snapshots: dict[int, tuple[Snapshot, np.ndarray | None]] = {}
        confirm_runs, last = 0, None
        for frame in frames:
            if last is None:
                self._check_size(frame)
            last = frame
            self.stats.frames_decoded += 1
            if isinstance(frames, FrameSource):
                self.stats.frames_dropped = frames.frames_dropped
            force: Reason | None = (
                "confirm" if tracker.pending and confirm_runs < self.max_confirm_runs else None
            )
            decision = gate.check(frame.gray, frame.time_s, force=force)
            if not decision.run:
                self.stats.frames_gated += 1
                self._report()
                continue
            confirm_runs = confirm_runs + 1 if decision.reason == "confirm" else 0
            self.stats.reasons[decision.reason or "?"] += 1
            yield from self._detect(frame, tracker, snapshots)
            self._report()
        for change in tracker.finish():
            yield self._event(change, last, snapshots)

    def _detect(
        self, frame: Frame, tracker: EventTracker, snapshots: dict[int, tuple[Snapshot, np.ndarray | None]]
    ) -> Iterator[CameraEvent]:
        self.stats.frames_detected += 1
        rgb = frame.rgb()
        results = self.detector.detect([rgb], self.prompts)
        if len(results) != 1:
            raise RuntimeError(f"detector {self.detector.name} returned {len(results)} results for 1 frame")
        detections = results[0]
        if self.verifier is not None and len(detections):
            detections = self.verifier.verify(rgb, detections, self.categories)
        self.stats.detections += len(detections)
        tracked, changes = tracker.update(frame.index, detections)
        for change in changes:
            if change.improved and change.detection is not None:
                label = f"{change.track.category} {change.track.best_score:.2f}"
                embedding = (
                    tracked.data["embedding"][change.detection] if "embedding" in tracked.data else None
                )
                snapshots[change.track.track_id] = (
                    self.renderer.render(rgb, change.track.best_box, label),
                    None if embedding is None else np.asarray(embedding),
                )
            yield self._event(change, frame, snapshots)

    def _event(
        self,
        change: TrackChange,
        frame: Frame | None,
        snapshots: dict[int, tuple[Snapshot, np.ndarray | None]],
    ) -> CameraEvent:
        track = change.track
        snapshot, embedding = snapshots.get(track.track_id, (None, None))
        if change.kind == "end":
            snapshots.pop(track.track_id, None)
        self.stats.events[change.kind] += 1
        ended = change.kind == "end"
        return CameraEvent(
            camera_id=self.camera.id,
            run_id=self.run_id,
            track_id=track.track_id,
            kind=change.kind,
            category=track.category,
            zone=track.zone,
            box=track.best_box,
            scores=dict(track.best_scores),
            frame_index=track.last_frame if ended or frame is None else frame.index,
            time_s=0.0 if frame is None else frame.time_s,
            snapshot_jpeg=snapshot.jpeg if snapshot else None,
            crop_jpeg=snapshot.crop_jpeg if snapshot else None,
            embedding=embedding,
            frame_size=None if frame is None else frame.size,
        )

    def _check_size(self, frame: Frame) -> None:
        width, height = frame.size
        shapes = [(f"zones[{i}] {z.name!r}", z.polygon) for i, z in enumerate(self.camera.zones)]
        shapes += [(f"masks[{i}]", m.polygon) for i, m in enumerate(self.camera.masks)]
        for where, polygon in shapes:
            for x, y in polygon:
                if x > width or y > height:
                    raise FrameMismatch(
                        f"camera {self.camera.id}: {where} point ({x}, {y}) lies outside "
                        f"the {width}x{height} frame of its source"
                    )

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.stats)

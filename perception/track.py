"""Tracking: detections in zones become tracks, and tracks become ``new``/``update``/``end``.

supervision's ``ByteTrack`` associates boxes; this module adds what a city needs on top:
detections outside every zone, inside a mask, or of a category the zone does not watch are
dropped; a track's category is the majority of its detections; its best score and the frame
index where it was seen best are kept. The tracker is only told about frames the detector
ran on, so a stationary object checked once a minute does not age out between checks;
a track ends after ``lost_frames`` detector runs in a row without it.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import supervision as sv

from perception.config import CameraSpec, Zone

Kind = Literal["new", "update", "end"]
SCORE_KEY = "score"
"""``data`` key of the score a track is ranked by (the CLIP score when verified, else the detector's)."""


@dataclass
class Track:
    track_id: int
    zone: str
    first_frame: int
    box: tuple[float, float, float, float]
    votes: Counter[str] = field(default_factory=Counter)
    best_score: float = 0.0
    best_scores: dict[str, float] = field(default_factory=dict)
    best_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    best_frame: int = 0
    last_frame: int = 0
    missed: int = 0
    reported_category: str | None = None

    @property
    def category(self) -> str:
        return self.votes.most_common(1)[0][0]


@dataclass(frozen=True)
class TrackChange:
    """What happened to one track on one detector run."""

    kind: Kind
    track: Track
    improved: bool
    """The best score rose on this frame: the caller renders a new best snapshot."""
    detection: int | None
    """Index of the track's detection in this frame's filtered ``Detections`` (None for ``end``)."""


class ZoneFilter:
    """Keeps detections whose box centre lies in a zone watching their category, outside masks."""

    def __init__(self, zones: Sequence[Zone], masks: Sequence[Sequence[tuple[int, int]]] = ()) -> None:
        anchor = (sv.Position.CENTER,)
        self.zones = list(zones)
        self._zones = [
            sv.PolygonZone(np.asarray(z.polygon, np.int32), triggering_anchors=anchor) for z in self.zones
        ]
        self._masks = [sv.PolygonZone(np.asarray(m, np.int32), triggering_anchors=anchor) for m in masks]

    def __call__(self, detections: sv.Detections) -> sv.Detections:
        """The kept detections, each with ``data["zone"]`` set."""
        if len(detections) == 0:
            return _with_zone(detections, [])
        keep = np.ones(len(detections), bool)
        for mask in self._masks:
            keep &= ~mask.trigger(detections)
        names = np.asarray(detections.data.get("class_name", [""] * len(detections)), dtype=object)
        zone_of: list[str | None] = [None] * len(detections)
        for zone, polygon in zip(self.zones, self._zones, strict=True):
            inside = polygon.trigger(detections)
            for i in np.flatnonzero(inside & keep):
                if zone_of[i] is None and zone.watches(str(names[i])):
                    zone_of[i] = zone.name
        kept = np.asarray([z is not None for z in zone_of], bool) & keep
        return _with_zone(select(detections, kept), [z for z, k in zip(zone_of, kept, strict=True) if k])


def select(detections: sv.Detections, index: np.ndarray) -> sv.Detections:
    """``detections[index]`` for a boolean mask or row indices, typed as ``Detections``."""
    picked = detections[index]
    assert isinstance(picked, sv.Detections)
    return picked


def _with_zone(detections: sv.Detections, zones: list[str | None]) -> sv.Detections:
    detections.data["zone"] = np.asarray(zones, dtype=object)
    return detections


class EventTracker:
    """One camera's tracks and their lifecycle. Call ``update`` only for frames the detector saw."""

    def __init__(
        self, camera: CameraSpec, *, lost_frames: int = 5, min_iou: float = 0.2, min_gain: float = 0.05
    ) -> None:
        if lost_frames < 2:
            raise ValueError("lost_frames must be at least 2")
        if not 0 <= min_gain < 1:
            raise ValueError("min_gain must be within [0, 1)")
        self.lost_frames = lost_frames
        self.min_gain = min_gain
        """A track's best (score, box, snapshot) moves only for a score this much higher: a score
        wobbling by a hundredth does not re-render a snapshot and re-send an event each run."""
        self.filter = ZoneFilter(camera.zones, [m.polygon for m in camera.masks])
        with warnings.catch_warnings():  # deprecated in 0.28 in favour of the `trackers` package
            warnings.filterwarnings("ignore", message=".*ByteTrack.*deprecated", category=FutureWarning)
            # frame_rate=30 makes ByteTrack forget a lost track after exactly lost_frames - 1 runs,
            # the same run at which this tracker reports ``end``.
            self._bytetrack = sv.ByteTrack(
                track_activation_threshold=0.5,
                lost_track_buffer=lost_frames - 1,
                minimum_matching_threshold=1 - min_iou,
                frame_rate=30,
            )
        self.tracks: dict[int, Track] = {}
        self.pending = 0
        """Detections of the last run that did not become a confirmed track (they need a second look)."""

    def update(self, frame_index: int, detections: sv.Detections) -> tuple[sv.Detections, list[TrackChange]]:
        """Feed one detector run; returns the tracked detections (``tracker_id`` set) and the changes."""
        kept = self.filter(detections)
        scores = _scores(kept)
        kept.data[SCORE_KEY] = scores
        unit = sv.Detections(
            xyxy=kept.xyxy.astype(np.float32),
            confidence=np.ones(len(kept), np.float32),
            class_id=kept.class_id,
            data={"row": np.arange(len(kept))},
        )
        tracked = self._bytetrack.update_with_detections(unit)
        rows = np.asarray(tracked.data.get("row", []), dtype=int)
        result = select(kept, rows if len(rows) else np.zeros(len(kept), bool))
        tracker_ids = np.asarray(tracked.tracker_id, dtype=int)
        result.tracker_id = tracker_ids
        self.pending = len(kept) - len(result)
        changes = [self._seen(frame_index, result, i) for i in range(len(result))]
        changes.extend(self._missed(set(tracker_ids.tolist())))
        return result, [c for c in changes if c is not None]

    def _seen(self, frame_index: int, tracked: sv.Detections, i: int) -> TrackChange | None:
        assert tracked.tracker_id is not None
        track_id = int(tracked.tracker_id[i])
        x1, y1, x2, y2 = (float(v) for v in tracked.xyxy[i])
        box = (x1, y1, x2, y2)
        category = str(tracked.data["class_name"][i]) if "class_name" in tracked.data else "object"
        score = float(tracked.data[SCORE_KEY][i])
        track = self.tracks.get(track_id)
        is_new = track is None
        if track is None:
            track = self.tracks[track_id] = Track(track_id, str(tracked.data["zone"][i]), frame_index, box)
        track.votes[category] += 1
        track.box, track.last_frame, track.missed = box, frame_index, 0
        improved = is_new or score > track.best_score + self.min_gain
        if improved:
            track.best_score, track.best_box, track.best_frame = score, box, frame_index
            track.best_scores = _score_parts(tracked, i)
        if is_new:
            track.reported_category = track.category
            return TrackChange("new", track, True, i)
        if improved or track.category != track.reported_category:
            track.reported_category = track.category
            return TrackChange("update", track, improved, i)
        return None

    def _missed(self, present: set[int]) -> list[TrackChange]:
        ended = []
        for track_id, track in list(self.tracks.items()):
            if track_id in present:
                continue
            track.missed += 1
            if track.missed >= self.lost_frames:
                ended.append(TrackChange("end", self.tracks.pop(track_id), False, None))
        return ended

    def finish(self) -> list[TrackChange]:
        """End every open track (the source ended)."""
        ended = [TrackChange("end", track, False, None) for track in self.tracks.values()]
        self.tracks.clear()
        return ended


def _scores(detections: sv.Detections) -> np.ndarray:
    if "clip_score" in detections.data:
        return np.asarray(detections.data["clip_score"], np.float64)
    if detections.confidence is not None:
        return detections.confidence.astype(np.float64)
    return np.ones(len(detections))


def _score_parts(detections: sv.Detections, i: int) -> dict[str, float]:
    parts = {}
    if detections.confidence is not None:
        parts["detector"] = float(detections.confidence[i])
    if "clip_score" in detections.data:
        parts["clip"] = float(detections.data["clip_score"][i])
    return parts

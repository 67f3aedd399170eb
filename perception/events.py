"""What a camera pipeline emits: one ``CameraEvent`` per change of a tracked object, and stats."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

EventKind = Literal["new", "update", "end"]


@dataclass(frozen=True)
class CameraEvent:
    """One tracked object changed: it appeared (``new``), was seen better (``update``), or left (``end``).

    ``(camera_id, run_id, track_id)`` names the object; ``new`` and every ``update`` carry the
    best snapshot so far, ``end`` carries the last one too so a consumer that missed the
    earlier events still gets a picture.
    """

    camera_id: str
    run_id: str
    track_id: int
    kind: EventKind
    category: str
    zone: str | None
    box: tuple[float, float, float, float]
    """Pixel ``xyxy`` of the best sighting."""
    scores: dict[str, float]
    """``detector`` and, when a verifier ran, ``clip``."""
    frame_index: int
    """The source frame of this event (for ``end``: the last frame the object was seen)."""
    time_s: float
    snapshot_jpeg: bytes | None = None
    crop_jpeg: bytes | None = None
    frame_size: tuple[int, int] | None = None
    """(width, height) of the source frame ``box`` is in; the snapshot may be smaller."""
    embedding: np.ndarray | None = None


@dataclass
class PipelineStats:
    frames_decoded: int = 0
    """Sampled frames that reached the pipeline."""
    frames_dropped: int = 0
    """Frames the source dropped because the pipeline was behind."""
    frames_gated: int = 0
    """Frames the gate kept from the detector."""
    frames_detected: int = 0
    """Frames sent to the detector."""
    detections: int = 0
    events: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    """Why frames went to the detector: first, motion, background, recheck, confirm."""

    @property
    def detector_share(self) -> float:
        return self.frames_detected / self.frames_decoded if self.frames_decoded else 0.0

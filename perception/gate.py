"""Gating: run the detector only where something changed, and say why.

Three reasons to send a frame to the detector, checked per zone on the luma plane shrunk
to ``width`` pixels (masked polygons ignored):

- ``motion``: the frame differs from the previous one (frame differencing);
- ``background``: the frame differs from a slowly updated background model in pixels the
  detector has not yet been shown — a fallen tree, a garbage heap or spreading water that
  appears slowly or between two sampled frames and then stays still;
- ``recheck``: nothing changed for ``recheck_interval_s`` — stationary objects are looked
  at again so their tracks stay confirmed (or end).

The first frame always goes (``first``), and the pipeline can ask for the next frame
(``confirm``) when a new object needs a second look. ``background`` compares with the frame
the detector last saw as well: a heap that stays still costs one run, then only rechecks,
while water that keeps spreading is looked at again each time it has grown visibly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

BACKGROUND_STEP_S = 0.5
"""The background model takes in a frame at most this often (it changes over minutes)."""
Reason = Literal["first", "motion", "background", "recheck", "confirm"]
Polygon = Sequence[tuple[int, int]]


@dataclass(frozen=True)
class GateSettings:
    width: int = 320
    """The luma plane is halved while it stays at least this wide (1280 -> 320, 768 -> 384)."""
    pixel_threshold: int = 25
    """Grey-level difference (0-255) for a pixel to count as changed."""
    min_changed_fraction: float = 0.002
    """Share of a zone's pixels that must change for the zone to trigger."""
    background_time_s: float = 120.0
    """Time constant of the background model: a still object blends in after a few of these."""
    recheck_interval_s: float = 60.0


@dataclass(frozen=True)
class GateDecision:
    run: bool
    reason: Reason | None
    zones: tuple[str, ...]
    """The zones that triggered (every zone for ``first``, ``recheck`` and ``confirm``)."""
    region: tuple[int, int, int, int] | None
    """Full-resolution ``xyxy`` box around the changed pixels, when there are any."""


class MotionGate:
    """Per-camera gating state; call ``check`` for every sampled frame, in order."""

    def __init__(
        self, zones: dict[str, Polygon], masks: Sequence[Polygon] = (), settings: GateSettings | None = None
    ) -> None:
        if not zones:
            raise ValueError("zones: at least one zone is needed")
        self.settings = settings or GateSettings()
        self._zone_polygons, self._masks = dict(zones), list(masks)
        self._shape: tuple[int, int] | None = None
        self._full: tuple[int, ...] = ()
        self._halvings = 0
        self._scale = 1.0
        self._zone_masks: dict[str, np.ndarray] = {}
        self._zone_min: dict[str, int] = {}
        self._valid: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._background: np.ndarray | None = None
        self._background_u8: np.ndarray = np.zeros((1, 1), np.uint8)
        self._background_time = 0.0
        self._looked: np.ndarray | None = None
        self._fewest = 1
        self._last_run: float | None = None

    def _setup(self, gray: np.ndarray) -> None:
        height, width = gray.shape
        self._full = gray.shape
        while width >> (self._halvings + 1) >= self.settings.width and height >> (self._halvings + 1) >= 8:
            self._halvings += 1
        small_w, small_h = width >> self._halvings, height >> self._halvings
        self._scale = width / small_w
        self._shape = (small_h, small_w)
        valid = np.full((small_h, small_w), 255, np.uint8)
        for mask in self._masks:
            cv2.fillPoly(valid, [self._small(mask)], 0)
        self._valid = valid
        for name, polygon in self._zone_polygons.items():
            zone = np.zeros((small_h, small_w), np.uint8)
            cv2.fillPoly(zone, [self._small(polygon)], 255)
            zone = cv2.bitwise_and(zone, valid)
            self._zone_masks[name] = zone
            self._zone_min[name] = max(1, round(cv2.countNonZero(zone) * self.settings.min_changed_fraction))
        self._fewest = min(self._zone_min.values())

    def _small(self, polygon: Polygon) -> np.ndarray:
        return np.round(np.asarray(polygon, np.float64) / self._scale).astype(np.int32)

    def shrink(self, gray: np.ndarray) -> np.ndarray:
        """Halve until about ``settings.width`` wide: a 2x linear resize is an exact 2x2 mean,
        so k halvings average 2^k x 2^k blocks like INTER_AREA, at a tenth of its cost."""
        if self._shape is None:
            self._setup(gray)
        if gray.shape != self._full:
            raise ValueError(
                f"frame size changed from {self._full[1]}x{self._full[0]} to {gray.shape[1]}x{gray.shape[0]}"
            )
        small = gray
        for _ in range(self._halvings):
            small = cv2.resize(
                small, (small.shape[1] // 2, small.shape[0] // 2), interpolation=cv2.INTER_LINEAR
            )
        return small

    def check(self, gray: np.ndarray, time_s: float, *, force: Reason | None = None) -> GateDecision:
        """Decide for one frame (its HxW luma plane and media time); ``force`` sends it anyway."""
        small = self.shrink(gray)
        previous, self._previous = self._previous, small
        if self._background is None or previous is None or self._looked is None:
            self._background = small.astype(np.float32)
            self._background_u8, self._background_time = small, time_s
            return self._decide("first", small, None, tuple(self._zone_masks), time_s)
        moving = self._changed(small, previous)
        zones = self._triggered(moving)
        self._update_background(small, time_s)
        if zones:
            return self._decide("motion", small, moving, zones, time_s)
        unseen = cv2.bitwise_and(
            self._changed(small, self._background_u8), self._changed(small, self._looked)
        )
        zones = self._triggered(unseen)
        if zones:
            return self._decide("background", small, unseen, zones, time_s)
        if force is not None:
            return self._decide(force, small, None, tuple(self._zone_masks), time_s)
        if self._last_run is not None and time_s - self._last_run >= self.settings.recheck_interval_s:
            return self._decide("recheck", small, None, tuple(self._zone_masks), time_s)
        return GateDecision(False, None, (), None)

    def _changed(self, small: np.ndarray, reference: np.ndarray) -> np.ndarray:
        diff = cv2.absdiff(small, reference)
        return cv2.threshold(diff, self.settings.pixel_threshold, 255, cv2.THRESH_BINARY)[1]

    def _triggered(self, changed: np.ndarray) -> tuple[str, ...]:
        if cv2.countNonZero(changed) < self._fewest:  # the common case: (almost) nothing changed
            return ()
        return tuple(
            name
            for name, zone in self._zone_masks.items()
            if cv2.countNonZero(cv2.bitwise_and(changed, zone)) >= self._zone_min[name]
        )

    def _update_background(self, small: np.ndarray, time_s: float) -> None:
        """Blend the frame in every ``BACKGROUND_STEP_S`` of media time, weighted by the time passed."""
        assert self._background is not None
        dt = time_s - self._background_time
        if dt < BACKGROUND_STEP_S:
            return
        self._background_time = time_s
        cv2.accumulateWeighted(small, self._background, min(1.0, dt / self.settings.background_time_s))
        self._background_u8 = cv2.convertScaleAbs(self._background)

    def _decide(
        self,
        reason: Reason,
        small: np.ndarray,
        changed: np.ndarray | None,
        zones: tuple[str, ...],
        time_s: float,
    ) -> GateDecision:
        self._last_run, self._looked = time_s, small
        return GateDecision(True, reason, zones, self._region(changed))

    def _region(self, changed: np.ndarray | None) -> tuple[int, int, int, int] | None:
        if changed is None or self._valid is None:
            return None
        points = cv2.findNonZero(cv2.bitwise_and(changed, self._valid))
        if points is None:
            return None
        x, y, w, h = cv2.boundingRect(points)
        s = self._scale
        return int(x * s), int(y * s), int(np.ceil((x + w) * s)), int(np.ceil((y + h) * s))

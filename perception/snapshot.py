"""Snapshots: the frame with the track's box and label drawn, and a crop around the box, as JPEG."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import supervision as sv


@dataclass(frozen=True)
class Snapshot:
    jpeg: bytes
    """The whole frame (shrunk to ``max_width``) with the box and label drawn."""
    crop_jpeg: bytes
    """The box with ``pad`` of its size around it, at full resolution, nothing drawn."""


class SnapshotRenderer:
    def __init__(self, *, max_width: int = 1280, quality: int = 85, pad: float = 0.15) -> None:
        if not 1 <= quality <= 100:
            raise ValueError("quality must be within 1..100")
        self.max_width, self.quality, self.pad = max_width, quality, pad
        self._box = sv.BoxAnnotator(color=sv.Color.RED, thickness=3)
        self._label = sv.LabelAnnotator(
            color=sv.Color.RED, text_color=sv.Color.WHITE, text_position=sv.Position.TOP_LEFT,
            smart_position=True,  # keeps the label inside the frame near its edges
        )

    def render(self, frame_rgb: np.ndarray, box: Sequence[float], label: str) -> Snapshot:
        """``box`` is pixel ``xyxy`` in ``frame_rgb``; ``label`` is drawn above it."""
        height, width = frame_rgb.shape[:2]
        xyxy = np.clip(np.asarray([box], np.float32), 0, [width, height, width, height])
        bgr: npt.NDArray[np.uint8] = np.ascontiguousarray(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))
        crop = self._crop(bgr, xyxy[0])
        detections = sv.Detections(xyxy=xyxy, class_id=np.zeros(1, int))
        drawn: np.ndarray = self._label.annotate(
            self._box.annotate(bgr.copy(), detections), detections, labels=[label]
        )
        if width > self.max_width:
            size = (self.max_width, round(height * self.max_width / width))
            drawn = cv2.resize(drawn, size, interpolation=cv2.INTER_AREA)
        return Snapshot(self._encode(drawn), self._encode(crop))

    def _crop(self, bgr: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        x1, y1, x2, y2 = xyxy
        pad_x, pad_y = (x2 - x1) * self.pad, (y2 - y1) * self.pad
        padded = np.asarray([x1 - pad_x, y1 - pad_y, x2 + pad_x, y2 + pad_y])
        height, width = bgr.shape[:2]
        padded = np.clip(padded, 0, [width, height, width, height]).round().astype(int)
        if padded[2] - padded[0] < 1 or padded[3] - padded[1] < 1:
            padded = np.asarray([0, 0, width, height])
        return sv.crop_image(bgr, padded)

    def _encode(self, bgr: np.ndarray) -> bytes:
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError("JPEG encoding failed")
        return data.tobytes()

"""Synthetic test videos and scenes, written with PyAV into a test's tmp_path, and a detector
that finds their coloured blobs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import av
import cv2
import numpy as np
import supervision as sv

from perception.types import Prompt

W, H = 320, 240  # the size of the camera tests' synthetic clips


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth, textured RGB street-like scene (no flat areas, no sensor noise)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    scene = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(scene, (0, 0), 3).astype(np.uint8) // 2 + 60


def write_video(path: Path, frames: Iterable[np.ndarray], *, fps: int = 10, codec: str = "libx264") -> Path:
    """Encode RGB frames; H.264 at high quality so a static scene stays static after decoding."""
    with av.open(str(path), "w") as container:
        stream = None
        for rgb in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=fps)
                stream.height, stream.width = rgb.shape[:2]
                stream.pix_fmt = "yuv420p" if codec != "mjpeg" else "yuvj420p"
                if codec == "libx264":
                    stream.options = {"crf": "16", "preset": "ultrafast", "tune": "zerolatency"}
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            ):
                container.mux(packet)
        assert stream is not None
        for packet in stream.encode():
            container.mux(packet)
    return path


def scene(
    n: int, width: int, height: int, draw: Callable[[np.ndarray, int], None] | None = None, seed: int = 0
) -> Iterable[np.ndarray]:
    """``n`` frames of one background; ``draw(frame, i)`` paints what happens in frame ``i``."""
    base = background(width, height, seed)
    for i in range(n):
        frame = base.copy()
        if draw is not None:
            draw(frame, i)
        yield frame


def moving_square(
    size: int = 24, step: int = 6, y: int = 60, colour: tuple[int, int, int] = (250, 250, 250)
) -> Callable[[np.ndarray, int], None]:
    def draw(frame: np.ndarray, i: int) -> None:
        x = 10 + i * step
        cv2.rectangle(frame, (x, y), (x + size, y + size), colour, -1)

    return draw


def appearing_object(
    start: int,
    box: tuple[int, int, int, int],
    fade_frames: int = 1,
    colour: tuple[int, int, int] = (20, 20, 20),
) -> Callable[[np.ndarray, int], None]:
    """From frame ``start`` an object fades in over ``fade_frames`` frames and then stays."""
    x1, y1, x2, y2 = box

    def draw(frame: np.ndarray, i: int) -> None:
        if i < start:
            return
        weight = min(1.0, (i - start + 1) / fade_frames)
        region = frame[y1:y2, x1:x2].astype(np.float32)
        frame[y1:y2, x1:x2] = (region * (1 - weight) + np.asarray(colour, np.float32) * weight).astype(
            np.uint8
        )

    return draw


class FakeColourDetector:
    """Finds blobs by colour in the frame it is given: dark blobs are garbage, white ones bicycles."""

    name = "fake-colour"

    def __init__(self) -> None:
        self.frames_seen = 0

    def detect(self, frames: Sequence[np.ndarray], prompts: Sequence[Prompt]) -> list[sv.Detections]:
        self.frames_seen += len(frames)
        return [self._one(frame, prompts) for frame in frames]

    def _one(self, rgb: np.ndarray, prompts: Sequence[Prompt]) -> sv.Detections:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        boxes, classes = [], []
        for mask, category in ((gray < 40, "exposed_garbage"), (gray > 230, "fallen_bicycle")):
            count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
            for x, y, w, h, area in stats[1:count]:
                if area >= 100:
                    boxes.append((x, y, x + w, y + h))
                    classes.append(next(i for i, p in enumerate(prompts) if p.category == category))
        if not boxes:
            return sv.Detections.empty()
        return sv.Detections(
            xyxy=np.asarray(boxes, np.float32),
            confidence=np.full(len(boxes), 0.6, np.float32),
            class_id=np.asarray(classes),
            data={"class_name": np.asarray([prompts[c].category for c in classes])},
        )

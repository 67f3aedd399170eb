"""Snapshots are real JPEGs with the box drawn where the object is, and a crop of it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from perception.snapshot import SnapshotRenderer


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return np.asarray(image.convert("RGB"))


def test_box_is_drawn_and_crop_is_the_object() -> None:
    frame = np.full((240, 320, 3), 90, np.uint8)
    frame[100:140, 150:210] = (0, 200, 0)  # a green object
    snapshot = SnapshotRenderer(pad=0.0).render(frame, (150, 100, 210, 140), "fallen_tree 0.71")
    drawn = _decode(snapshot.jpeg)
    assert drawn.shape == (240, 320, 3)
    # the red box outline is on the object's edge, the frame elsewhere is unchanged
    assert drawn[100, 180, 0] > 180 and drawn[100, 180, 1] < 80
    assert np.abs(drawn[200:230, 10:60].astype(int) - 90).max() < 6
    crop = _decode(snapshot.crop_jpeg)
    assert crop.shape == (40, 60, 3)
    assert crop[20, 30, 1] > 170 and crop[20, 30, 0] < 40  # the crop is the green object, nothing drawn


def test_large_frames_are_shrunk_and_boxes_clipped() -> None:
    frame = np.zeros((1080, 1920, 3), np.uint8)
    snapshot = SnapshotRenderer(max_width=640).render(frame, (-50, -10, 5000, 300), "x")
    assert _decode(snapshot.jpeg).shape == (360, 640, 3)
    assert _decode(snapshot.crop_jpeg).shape[1] == 1920


def test_quality_is_checked() -> None:
    with pytest.raises(ValueError, match="quality must be within 1..100"):
        SnapshotRenderer(quality=0)

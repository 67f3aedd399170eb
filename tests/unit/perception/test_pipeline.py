"""The whole camera pipeline on synthetic H.264 clips: gating, detection, tracking, events, stats."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import supervision as sv
from PIL import Image

from perception.config import CameraSpec
from perception.events import CameraEvent, PipelineStats
from perception.pipeline import CameraPipeline, FrameMismatch
from perception.types import Prompt
from tests.helpers.synthetic import FakeColourDetector, H, W, appearing_object, moving_square, scene, write_video

PROMPTS = [
    Prompt("exposed_garbage", "a pile of garbage", 0.3),
    Prompt("fallen_bicycle", "a bicycle on the ground", 0.3),
]


class FakeVerifier:
    """Keeps garbage only, scoring it and giving it a 4-d embedding."""

    def verify(
        self, frame_rgb: np.ndarray, detections: sv.Detections, categories: Sequence[str]
    ) -> sv.Detections:
        kept = detections[detections.data["class_name"] == "exposed_garbage"]
        kept.data["clip_score"] = np.full(len(kept), 0.9)
        kept.data["embedding"] = np.ones((len(kept), 4))
        return kept


def _camera(source: Path, **extra: Any) -> CameraSpec:
    spec = {
        "id": "cam-1",
        "name": "Main St",
        "source": str(source),
        "location": {"lat": 1, "lon": 2},
        "detection_fps": 10,
        "recheck_interval_s": 3,
        "zones": [{"name": "street", "polygon": [[0, 0], [W, 0], [W, H], [0, H]]}],
    }
    return CameraSpec.model_validate({**spec, **extra})


@pytest.fixture
def street(tmp_path: Path) -> Path:
    """10 s at 10 fps: a garbage heap fades in at 2 s and stays; a bicycle crosses from 5 s to 7 s."""
    heap = appearing_object(start=20, box=(200, 150, 260, 200), fade_frames=12, colour=(10, 10, 10))
    bike = moving_square(size=20, step=6, y=40, colour=(255, 255, 255))

    def draw(frame: np.ndarray, i: int) -> None:
        heap(frame, i)
        if 50 <= i < 70:
            bike(frame, i - 50)

    return write_video(tmp_path / "street.mp4", scene(100, W, H, draw))


def _run(pipeline: CameraPipeline) -> list[CameraEvent]:
    return list(pipeline.run())


def test_heap_and_bicycle_are_one_event_each(street: Path) -> None:
    detector = FakeColourDetector()
    pipeline = CameraPipeline(_camera(street), detector, PROMPTS, lost_frames=3)
    events = _run(pipeline)
    by_track = {}
    for event in events:
        by_track.setdefault((event.category, event.track_id), []).append(event.kind)
    assert sorted(c for c, _ in by_track) == ["exposed_garbage", "fallen_bicycle"]
    for kinds in by_track.values():
        assert (
            kinds[0] == "new" and kinds[-1] == "end" and kinds.count("new") == 1 and kinds.count("end") == 1
        )
    heap_new = next(e for e in events if e.category == "exposed_garbage" and e.kind == "new")
    assert 20 <= heap_new.frame_index <= 35 and heap_new.zone == "street"
    x1, y1, x2, y2 = heap_new.box
    assert abs(x1 - 200) <= 3 and abs(y2 - 200) <= 3
    with Image.open(io.BytesIO(heap_new.snapshot_jpeg or b"")) as image:
        assert image.size == (W, H)
    assert heap_new.crop_jpeg and heap_new.scores == {"detector": pytest.approx(0.6)}
    stats = pipeline.stats
    assert stats.frames_decoded == 100 and stats.frames_dropped == 0
    assert stats.frames_detected == detector.frames_seen == stats.frames_decoded - stats.frames_gated
    assert stats.frames_detected < 40  # the bicycle's 20 frames, a few for the heap, rechecks
    assert set(stats.reasons) == {"first", "background", "confirm", "motion"}


def test_stationary_heap_survives_gated_frames(tmp_path: Path) -> None:
    heap = appearing_object(start=5, box=(100, 100, 160, 150), fade_frames=1, colour=(10, 10, 10))
    path = write_video(tmp_path / "heap.mp4", scene(200, W, H, heap))  # 20 s: rechecks every 3 s
    pipeline = CameraPipeline(_camera(path), FakeColourDetector(), PROMPTS, lost_frames=2)
    events = _run(pipeline)
    assert [(e.kind, e.category) for e in events] == [("new", "exposed_garbage"), ("end", "exposed_garbage")]
    assert events[1].frame_index == 199 - 199 % 1 or events[1].frame_index > 150
    assert pipeline.stats.reasons["recheck"] >= 5
    assert pipeline.stats.detector_share < 0.1


def test_verifier_scores_and_embeddings(street: Path) -> None:
    pipeline = CameraPipeline(_camera(street), FakeColourDetector(), PROMPTS, FakeVerifier(), lost_frames=3)
    events = _run(pipeline)
    assert {e.category for e in events} == {"exposed_garbage"}  # the verifier dropped the bicycle
    new = next(e for e in events if e.kind == "new")
    assert new.scores == {"detector": pytest.approx(0.6), "clip": pytest.approx(0.9)}
    assert new.embedding is not None and new.embedding.shape == (4,)


def test_progress_callback_sees_every_frame(street: Path) -> None:
    seen: list[int] = []

    def progress(stats: PipelineStats) -> None:
        seen.append(stats.frames_decoded)

    pipeline = CameraPipeline(_camera(street), FakeColourDetector(), PROMPTS, progress=progress)
    _run(pipeline)
    assert seen == list(range(1, 101))


def test_zone_outside_the_frame_is_a_clear_error(street: Path) -> None:
    camera = _camera(street, zones=[{"name": "far", "polygon": [[0, 0], [1920, 0], [1920, 1080]]}])
    with pytest.raises(
        FrameMismatch, match=r"zones\[0\] 'far' point \(1920, 0\) lies outside the 320x240 frame"
    ):
        _run(CameraPipeline(camera, FakeColourDetector(), PROMPTS))


def test_no_watched_category_is_a_clear_error(street: Path) -> None:
    camera = _camera(
        street, zones=[{"name": "z", "polygon": [[0, 0], [10, 0], [10, 10]], "categories": ["pothole"]}]
    )
    with pytest.raises(ValueError, match="none of the prompts' categories is watched by a zone"):
        CameraPipeline(camera, FakeColourDetector(), PROMPTS)


@pytest.mark.slow  # builds a tiny OWLv2 (imports transformers and torch): 10-30 s on 2 busy cores
def test_tiny_owlv2_runs_through_the_pipeline(street: Path, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from perception.testing import build_tiny_owlv2

    detector = build_tiny_owlv2(tmp_path / "owl")
    prompts = [Prompt("exposed_garbage", "garbage", 0.3), Prompt("fallen_bicycle", "bicycle", 0.3)]
    pipeline = CameraPipeline(_camera(street), detector, prompts, lost_frames=3)
    events = _run(pipeline)  # random weights: whatever it finds must come out as well-formed events
    kinds = Counter(e.kind for e in events)
    assert kinds["new"] == kinds["end"]
    assert all(e.category in {"exposed_garbage", "fallen_bicycle"} and e.snapshot_jpeg for e in events)
    assert 0 < pipeline.stats.frames_detected < pipeline.stats.frames_decoded == 100

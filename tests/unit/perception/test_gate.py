"""Gating on decoded synthetic H.264 videos and on a real street clip."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from perception.decode import decode_video
from perception.gate import GateDecision, GateSettings, MotionGate
from tests.helpers.synthetic import appearing_object, moving_square, scene, write_video

W, H = 320, 240
WHOLE = {"street": [(0, 0), (W, 0), (W, H), (0, H)]}
CAR_CLIP = Path("/work/shared/data/video/car-detection.mp4")


def _gate_video(
    path: Path, zones: dict = WHOLE, masks: tuple = (), recheck_s: float = 60.0
) -> list[GateDecision]:
    gate = MotionGate(zones, masks, GateSettings(recheck_interval_s=recheck_s))
    return [gate.check(f.gray, f.time_s) for f in decode_video(str(path), fps=None)]


def _runs(decisions: list[GateDecision]) -> list[int]:
    return [i for i, d in enumerate(decisions) if d.run]


def test_static_scene_sends_almost_nothing(tmp_path: Path) -> None:
    decisions = _gate_video(write_video(tmp_path / "static.mp4", scene(100, W, H)))
    assert _runs(decisions) == [0]  # the first frame only: what is already there gets looked at once
    assert decisions[0].reason == "first"


def test_moving_square_sends_the_frames_it_moves_in(tmp_path: Path) -> None:
    def draw(frame, i):  # still for 10 frames, moves for 30, then gone
        if 10 <= i < 40:
            moving_square(step=8)(frame, i - 10)

    decisions = _gate_video(write_video(tmp_path / "moving.mp4", scene(60, W, H, draw)))
    runs = _runs(decisions)
    assert runs[0] == 0 and set(range(10, 41)) <= set(runs)
    assert {decisions[i].reason for i in range(10, 41)} == {"motion"}
    assert len(runs) <= 1 + 31 + 2
    box = decisions[20].region
    assert box is not None
    x1, y1, x2, y2 = box  # the region covers the square's old and new place, in full-size pixels
    assert x1 <= 10 + 10 * 8 and x2 >= 10 + 10 * 8 + 24 and y1 <= 60 and y2 >= 84


def test_object_that_appears_slowly_and_stays(tmp_path: Path) -> None:
    # a dark heap fades in over 15 frames (too slow for frame differencing), then stays for 10 s
    draw = appearing_object(start=20, box=(150, 120, 230, 180), fade_frames=15)
    decisions = _gate_video(write_video(tmp_path / "heap.mp4", scene(140, W, H, draw)), recheck_s=4.0)
    runs = _runs(decisions)
    reasons = Counter(decisions[i].reason for i in runs)
    assert "motion" not in reasons
    background = [i for i in runs if decisions[i].reason == "background"]
    assert background and 20 < background[0] < 35  # found while it appears...
    assert len(background) <= 3  # ...once or a few times while it still grows, then never again
    # afterwards only the slow re-checks (every 4 s = 40 frames at 10 fps)
    assert reasons["recheck"] in (2, 3)
    assert len(runs) <= 1 + 3 + 3


def test_appearing_outside_zones_or_under_a_mask_is_ignored(tmp_path: Path) -> None:
    path = write_video(tmp_path / "mover.mp4", scene(30, W, H, moving_square(step=8, y=20)))
    lower_half = {"kerb": [(0, 120), (W, 120), (W, H), (0, H)]}
    assert _runs(_gate_video(path, zones=lower_half)) == [0]
    masked = ([(0, 0), (W, 0), (W, 60), (0, 60)],)
    assert _runs(_gate_video(path, masks=masked)) == [0]
    two = {"top": [(0, 0), (W, 0), (W, 100), (0, 100)], **lower_half}
    decisions = _gate_video(path, zones=two)
    assert {d.zones for d in decisions[1:] if d.run} == {("top",)}


def test_forced_confirmation_runs_once() -> None:
    import numpy as np

    gate = MotionGate(WHOLE)
    still = np.full((H, W), 100, np.uint8)
    assert gate.check(still, 0.0).reason == "first"
    assert gate.check(still, 0.1, force="confirm").reason == "confirm"
    assert not gate.check(still, 0.2).run


@pytest.mark.skipif(not CAR_CLIP.exists(), reason="shared clip not present")
def test_real_clip_runs_the_detector_while_cars_move() -> None:
    gate = MotionGate({"lot": [(0, 0), (768, 0), (768, 432), (0, 432)]})
    decisions = [(f.time_s, gate.check(f.gray, f.time_s)) for f in decode_video(str(CAR_CLIP), fps=None)]
    ran = [t for t, d in decisions if d.run]
    share = len(ran) / len(decisions)
    assert 0.1 < share < 0.7  # the empty lot is skipped, driving cars are not
    assert sum(1 for t in ran if 1.0 <= t <= 4.0) <= 3  # nothing moves in the first seconds
    assert sum(1 for t in ran if 14.5 <= t <= 16.0) >= 15  # cars drive through the frame here

"""Tracking and event lifecycle on synthetic detection sequences (what a detector would return)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import supervision as sv

from perception.config import CameraSpec
from perception.track import EventTracker, TrackChange, ZoneFilter

CATEGORIES = ["fallen_tree", "fallen_bicycle", "exposed_garbage"]


def _camera(**extra: object) -> CameraSpec:
    spec = {
        "id": "cam-1",
        "name": "Main St",
        "source": "clip.mp4",
        "location": {"lat": 1, "lon": 2},
        "zones": [{"name": "street", "polygon": [[0, 0], [640, 0], [640, 360], [0, 360]]}],
    }
    return CameraSpec.model_validate({**spec, **extra})


def _dets(*items: tuple[tuple[float, float, float, float], str, float]) -> sv.Detections:
    if not items:
        return sv.Detections.empty()
    boxes, names, scores = zip(*items, strict=True)
    return sv.Detections(
        xyxy=np.asarray(boxes, np.float32),
        confidence=np.asarray(scores, np.float32),
        class_id=np.asarray([CATEGORIES.index(n) for n in names]),
        data={"class_name": np.asarray(names)},
    )


def _feed(
    tracker: EventTracker, runs: list[sv.Detections], first_index: int = 0, step: int = 1
) -> list[TrackChange]:
    changes: list[TrackChange] = []
    for n, detections in enumerate(runs):
        changes.extend(tracker.update(first_index + n * step, detections)[1])
    return changes


def _kinds(changes: list[TrackChange]) -> Counter[tuple[int, str]]:
    return Counter((c.track.track_id, c.kind) for c in changes)


def test_appear_persist_disappear_is_one_event() -> None:
    tracker = EventTracker(_camera(), lost_frames=3)
    scores = [0.4, 0.5, 0.45, 0.7, 0.6, 0.5, 0.4, 0.3]
    runs = [_dets(((100 + i, 100, 160 + i, 150), "fallen_tree", s)) for i, s in enumerate(scores)]
    changes = _feed(tracker, runs + [_dets()] * 3)
    assert [c.kind for c in changes] == ["new", "update", "update", "end"]
    end = changes[-1].track
    assert end.category == "fallen_tree" and end.best_score == pytest.approx(0.7)
    assert end.best_frame == 3 and end.best_scores == {"detector": pytest.approx(0.7)}
    assert changes[-1].improved is False and not tracker.tracks


def test_small_score_wobbles_do_not_move_the_best_snapshot() -> None:
    tracker = EventTracker(_camera(), lost_frames=3, min_gain=0.05)
    scores = [0.40, 0.42, 0.44, 0.44, 0.52, 0.55]
    runs = [_dets(((100, 100, 160, 150), "fallen_tree", s)) for s in scores]
    changes = _feed(tracker, runs + [_dets()] * 3)
    assert [(c.kind, c.improved) for c in changes] == [("new", True), ("update", True), ("end", False)]
    assert changes[1].track.best_frame == 4
    assert changes[-1].track.best_score == pytest.approx(0.52)
    with pytest.raises(ValueError, match="min_gain"):
        EventTracker(_camera(), min_gain=1.0)


def test_a_short_occlusion_keeps_the_same_track() -> None:
    tracker = EventTracker(_camera(), lost_frames=4)
    box = lambda i: ((50 + 5 * i, 200, 110 + 5 * i, 260), "fallen_bicycle", 0.6)  # noqa: E731
    runs = [_dets(box(i)) for i in range(6)] + [_dets()] * 2 + [_dets(box(i)) for i in range(8, 14)]
    changes = _feed(tracker, runs + [_dets()] * 4)
    kinds = _kinds(changes)
    assert sorted(kinds.elements()) == [(1, "end"), (1, "new")]


def test_an_occlusion_longer_than_lost_frames_ends_the_track() -> None:
    tracker = EventTracker(_camera(), lost_frames=2)
    box = ((50, 200, 110, 260), "fallen_bicycle", 0.6)
    changes = _feed(tracker, [_dets(box)] * 3 + [_dets()] * 3 + [_dets(box)] * 3 + [_dets()] * 2)
    assert [c.kind for c in changes] == ["new", "end", "new", "end"]
    assert changes[0].track.track_id != changes[2].track.track_id


def test_two_objects_crossing_stay_two_tracks() -> None:
    tracker = EventTracker(_camera(), lost_frames=3)
    runs = []
    for i in range(30):  # one moves right, one moves left, their boxes overlap in the middle
        a = ((40 + 16 * i, 150, 100 + 16 * i, 200), "fallen_bicycle", 0.8)
        b = ((540 - 16 * i, 160, 600 - 16 * i, 210), "exposed_garbage", 0.7)
        runs.append(_dets(a, b))
    changes = _feed(tracker, runs + [_dets()] * 3)
    kinds = _kinds(changes)
    assert Counter(kind for _, kind in kinds.elements()) == {"new": 2, "end": 2}
    ended = [c.track for c in changes if c.kind == "end"]
    # no identity switch: each track only ever saw its own object's category
    assert sorted(len(t.votes) for t in ended) == [1, 1]
    assert sorted(t.category for t in ended) == ["exposed_garbage", "fallen_bicycle"]


def test_category_is_the_majority_vote() -> None:
    tracker = EventTracker(_camera(), lost_frames=2)
    names = ["fallen_tree", "fallen_bicycle", "fallen_bicycle", "fallen_tree", "fallen_bicycle"]
    changes = _feed(tracker, [_dets(((10, 10, 90, 90), n, 0.5)) for n in names] + [_dets()] * 2)
    assert changes[0].kind == "new" and changes[0].track.category == "fallen_bicycle"
    assert changes[-1].kind == "end" and changes[-1].track.category == "fallen_bicycle"
    assert changes[-1].track.votes == Counter({"fallen_bicycle": 3, "fallen_tree": 2})


def test_stationary_object_survives_long_gaps_between_detector_runs() -> None:
    tracker = EventTracker(_camera(), lost_frames=3)
    heap = _dets(((300, 200, 380, 260), "exposed_garbage", 0.5))
    # the detector runs on frames 0, 1, then only every 1500 frames (a one-minute re-check at 25 fps)
    changes = _feed(tracker, [heap, heap]) + _feed(tracker, [heap] * 5, first_index=1501, step=1500)
    assert [c.kind for c in changes] == ["new"]
    assert tracker.tracks[changes[0].track.track_id].last_frame == 1501 + 4 * 1500


def test_unconfirmed_detection_is_pending() -> None:
    tracker = EventTracker(_camera(), lost_frames=3)
    tracker.update(0, _dets())
    _, changes = tracker.update(1, _dets(((10, 10, 50, 50), "fallen_tree", 0.9)))
    assert changes == [] and tracker.pending == 1  # seen once: needs a second look to become a track
    _, changes = tracker.update(2, _dets(((10, 10, 50, 50), "fallen_tree", 0.9)))
    assert [c.kind for c in changes] == ["new"] and tracker.pending == 0


def test_zones_masks_and_watched_categories_filter_detections() -> None:
    camera = _camera(
        zones=[
            {
                "name": "park",
                "polygon": [[0, 0], [300, 0], [300, 300], [0, 300]],
                "categories": ["fallen_tree"],
            },
            {"name": "road", "polygon": [[300, 0], [640, 0], [640, 300], [300, 300]]},
        ],
        masks=[{"name": "billboard", "polygon": [[500, 0], [640, 0], [640, 100], [500, 100]]}],
    )
    zone_filter = ZoneFilter(camera.zones, [m.polygon for m in camera.masks])
    kept = zone_filter(
        _dets(
            ((10, 10, 50, 50), "fallen_tree", 0.9),  # park watches trees: kept
            ((10, 60, 50, 90), "fallen_bicycle", 0.9),  # park does not watch bicycles: dropped
            ((400, 150, 450, 200), "fallen_bicycle", 0.9),  # road watches everything: kept
            ((550, 20, 600, 60), "fallen_tree", 0.9),  # under the mask: dropped
            ((10, 320, 50, 350), "fallen_tree", 0.9),  # in no zone: dropped
        )
    )
    assert kept.data["class_name"].tolist() == ["fallen_tree", "fallen_bicycle"]
    assert kept.data["zone"].tolist() == ["park", "road"]

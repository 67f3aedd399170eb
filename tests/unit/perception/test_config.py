"""Camera configuration: strict, with errors that name the field and the limit."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from perception.config import CameraSpec
from perception.types import Prompt

SQUARE = [[0, 0], [100, 0], [100, 100], [0, 100]]


def _spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "id": "main-st-1",
        "name": "Main St / 3rd Ave",
        "source": "rtsp://cam.local/stream",
        "location": {"lat": 52.1, "lon": 4.3},
        "detection_fps": 2,
        "zones": [
            {"name": "sidewalk", "polygon": SQUARE, "categories": ["fallen_tree", "exposed_garbage"]},
            {"name": "road", "polygon": [[100, 0], [200, 0], [200, 100]], "categories": ["pothole"]},
        ],
        "masks": [{"polygon": [[0, 0], [10, 0], [10, 10]]}],
        "categories": {"fallen_tree": {"threshold": 0.4, "prompts": ["a fallen tree", "a broken branch"]}},
    }
    spec.update(changes)
    return spec


def _error(**changes: Any) -> str:
    with pytest.raises(ValidationError) as error:
        CameraSpec.model_validate(_spec(**changes))
    return str(error.value)


def test_a_full_camera() -> None:
    camera = CameraSpec.model_validate(_spec())
    assert camera.is_stream and camera.recheck_interval_s == 60
    assert camera.zones[1].watches("pothole") and not camera.zones[1].watches("fallen_tree")
    assert not CameraSpec.model_validate(_spec(source="/data/clip.mp4")).is_stream


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"zones": []}, "zones\n  List should have at least 1 item"),
        ({"detection_fps": 0}, "detection_fps\n  Input should be greater than 0"),
        ({"detection_fps": 100}, "less than or equal to 60"),
        ({"location": {"lat": 91, "lon": 0}}, "location.lat\n  Input should be less than or equal to 90"),
        ({"source": "ftp://x/y"}, "URL scheme 'ftp' is not one of rtsp, rtsps, rtmp, http, https"),
        (
            {"zones": [{"name": "a", "polygon": [[0, 0], [1, 1]]}]},
            "zones.0.polygon\n  Value error, a polygon needs at least 3 points",
        ),
        (
            {"zones": [{"name": "a", "polygon": [[0, 0], [10, 10], [10, 0], [0, 20]]}]},
            "the polygon crosses itself",
        ),
        ({"zones": [{"name": "a", "polygon": [[0, 0], [5, 5], [10, 10]]}]}, "the polygon has no area"),
        (
            {"zones": [{"name": "a", "polygon": [[0, 0], [99999, 0], [0, 10]]}]},
            "must lie within 0..16384 pixels",
        ),
        ({"zones": [{"name": "a", "polygon": SQUARE}, {"name": "a", "polygon": SQUARE}]}, "repeated: a"),
        (
            {"zones": [{"name": "a", "polygon": SQUARE, "categories": ["Bad Code"]}]},
            "category code 'Bad Code'",
        ),
        ({"categories": {"fallen_tree": {"threshold": 1.5}}}, "categories.fallen_tree.threshold"),
        ({"recheck_interval_s": 0.1}, "recheck_interval_s\n  Input should be greater than or equal to 1"),
        ({"colour": "red"}, "colour\n  Extra inputs are not permitted"),
    ],
)
def test_bad_config_names_the_field_and_limit(changes: dict[str, Any], message: str) -> None:
    assert message in _error(**changes)


def test_prompts_apply_overrides_and_leave_out_unwatched_categories() -> None:
    camera = CameraSpec.model_validate(_spec())
    base = [
        Prompt("fallen_tree", "a tree lying on the street", 0.3),
        Prompt("fallen_tree", "a fallen trunk", 0.3),
        Prompt("pothole", "a pothole", 0.25),
        Prompt("graffiti", "graffiti", 0.3),
    ]
    assert camera.prompts(base) == [
        Prompt("fallen_tree", "a fallen tree", 0.4),
        Prompt("fallen_tree", "a broken branch", 0.4),
        Prompt("pothole", "a pothole", 0.25),
    ]

"""AP@0.5 on crafted boxes with a hand-computed answer, YOLO labels, and `cityloop eval detect` end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from cityloop.cli import main
from perception import evaluation as ev

POTHOLES = Path(__file__).resolve().parents[4] / "shared" / "data" / "images" / "potholes"


def _sample(boxes: list[list[float]], classes: list[int]) -> ev.Sample:
    return ev.Sample(
        Path("x.jpg"), np.array(boxes, dtype=np.float32).reshape(-1, 4), np.array(classes, dtype=int)
    )


def _detections(boxes: list[list[float]], scores: list[float], classes: list[int]) -> sv.Detections:
    return sv.Detections(
        xyxy=np.array(boxes, dtype=np.float32).reshape(-1, 4),
        confidence=np.array(scores, dtype=np.float32),
        class_id=np.array(classes, dtype=int),
    )


def test_ap_on_crafted_boxes_matches_the_hand_computed_value() -> None:
    samples = [
        _sample([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0]),
        _sample([[5, 5, 15, 15], [0, 0, 4, 4]], [0, 1]),
    ]
    predictions = [
        # 0.9 hits the first box; 0.8 is a duplicate of it (false positive); 0.6 hits nothing
        _detections([[0, 0, 10, 10], [1, 0, 10, 10], [40, 40, 50, 50]], [0.9, 0.8, 0.6], [0, 0, 0]),
        # 0.7 overlaps its box with IoU 0.9 (a hit); 0.95 misses; the class-1 box is never found
        _detections([[5, 5, 15, 14], [0, 0, 2, 2]], [0.7, 0.95], [0, 0]),
    ]
    report = ev.evaluate(samples, predictions, ["pothole", "crack"])
    # class 0, ranked: 0.95 FP, 0.9 TP, 0.8 FP, 0.7 TP, 0.6 FP over 3 boxes
    # precision 0, 1/2, 1/3, 2/4, 2/5; recall 0, 1/3, 1/3, 2/3, 2/3
    # all-point envelope: p = 1/2 from recall 0 to 2/3 → AP = 2/3 * 1/2 = 1/3
    pothole, crack = report.classes
    assert pothole.ap == pytest.approx(1 / 3)
    assert (pothole.ground_truth, pothole.detections, pothole.true_positives) == (3, 5, 2)
    assert crack.ap == 0.0 and crack.ground_truth == 1
    assert report.mean_ap == pytest.approx((1 / 3 + 0) / 2)


def test_all_point_interpolation_uses_the_precision_envelope() -> None:
    # recall steps 0.25, 0.5, 0.75 with precision 1, 0.5, 0.6: the 0.5 is lifted to 0.6
    ap = ev.average_precision(np.array([0.25, 0.5, 0.75]), np.array([1.0, 0.5, 0.6]))
    assert ap == pytest.approx(0.25 * 1.0 + 0.25 * 0.6 + 0.25 * 0.6)


def test_yolo_labels_become_pixel_boxes(tmp_path: Path) -> None:
    label = tmp_path / "a.txt"
    label.write_text("0 0.5 0.5 0.5 0.25\n\n1 0.1 0.2 0.2 0.2\n", encoding="utf-8")
    boxes, classes = ev.read_yolo_labels(label, 200, 100, num_classes=2)
    assert boxes == pytest.approx(np.array([[50, 37.5, 150, 62.5], [0, 10, 40, 30]]))
    assert classes.tolist() == [0, 1]
    assert ev.read_yolo_labels(tmp_path / "missing.txt", 10, 10, 2)[0].shape == (0, 4)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5 0.5", "a.txt:1: expected 5 fields"),
        ("3 0.5 0.5 0.5 0.5", r"a.txt:1: class 3 is outside 0\.\.1"),
        ("0 x 0.5 0.5 0.5", "a.txt:1: not numbers"),
    ],
)
def test_bad_label_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "a.txt").write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ev.LabelError, match=message):
        ev.read_yolo_labels(tmp_path / "a.txt", 10, 10, num_classes=2)


@pytest.mark.skipif(not POTHOLES.is_dir(), reason=f"{POTHOLES} is absent (see shared/data/SOURCES.md)")
def test_eval_detect_tiny_runs_end_to_end_and_says_accuracy_is_meaningless(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            "eval",
            "detect",
            "--images",
            str(POTHOLES / "images"),
            "--labels",
            str(POTHOLES / "labels"),
            "--tiny",
            "--limit",
            "3",
            "--batch-size",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "RANDOM weights" in out and "meaningless" in out
    assert "owlv2-tiny on 3 images" in out
    row = next(line for line in out.splitlines() if line.startswith("Pothole"))
    ap, ground_truth = float(row.split()[1]), int(row.split()[2])
    assert 0.0 <= ap <= 1.0 and ground_truth > 0


@pytest.mark.skipif(not POTHOLES.is_dir(), reason=f"{POTHOLES} is absent (see shared/data/SOURCES.md)")
def test_eval_detect_without_weights_names_the_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "eval",
            "detect",
            "--images",
            str(POTHOLES / "images"),
            "--labels",
            str(POTHOLES / "labels"),
            "--backend",
            "hf-groundingdino",
            "--models-dir",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert str(tmp_path / "grounding-dino-tiny" / "config.json") in err and "--tiny" in err


def test_eval_detect_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "labels").mkdir()
    (tmp_path / "data.yaml").write_text("names: [pothole]\n", encoding="utf-8")
    (tmp_path / "images").mkdir()
    args = [
        "eval",
        "detect",
        "--images",
        str(tmp_path / "images"),
        "--labels",
        str(tmp_path / "labels"),
        "--tiny",
    ]
    assert main(args) == 2
    assert "--images: no images" in capsys.readouterr().err
    assert main([*args, "--prompt", "crack=a crack"]) == 2
    assert "--prompt 'crack=a crack': expected CLASS=TEXT" in capsys.readouterr().err
    assert main([*args, "--threshold", "1.5"]) == 2
    assert "--threshold: 1.5 is outside 0..1" in capsys.readouterr().err

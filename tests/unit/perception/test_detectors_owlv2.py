"""OWLv2 / OWL-ViT through transformers on tiny random-weight models built and loaded like real ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from perception.detectors.base import Detector
from perception.detectors.hf_owlv2 import OwlDetector
from perception.testing import build_tiny_owlv2
from perception.types import Prompt, WeightsMissing

PROMPTS = [Prompt("pothole", "a pothole", 0.0), Prompt("fallen_tree", "a fallen tree", 0.0)]


@pytest.fixture(scope="session")
def owl_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("owlv2")
    build_tiny_owlv2(folder)
    return folder


@pytest.fixture(scope="session")
def owl(owl_folder: Path) -> OwlDetector:
    return OwlDetector.load(owl_folder, device="cpu", dtype="float32", batch_size=2)


def _frames(count: int, height: int = 180, width: int = 300) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def _cut_in_widest_gap(scores: np.ndarray) -> float:
    """A threshold in the middle of the widest gap between the central scores.

    Random weights give clusters of scores one float step apart; a threshold between two of
    those flips with the last bit of a matmul (the detector's forward pass and the test's are
    separate runs), so the cut goes where no score lies near it.
    """
    values = np.sort(np.unique(np.asarray(scores, dtype=np.float64)))
    assert len(values) >= 4, "too few distinct scores to cut between"
    low, high = len(values) // 4, max(len(values) * 3 // 4, len(values) // 4 + 2)
    central = values[low:high]
    gaps = np.diff(central)
    widest = int(gaps.argmax())
    assert gaps[widest] > 1e-5 * max(1.0, abs(central[widest])), "no clear gap between the scores"
    return float(central[widest] + central[widest + 1]) / 2


def test_detect_returns_one_result_per_frame_with_pixel_boxes_and_categories(owl: OwlDetector) -> None:
    assert isinstance(owl, Detector)
    frames = _frames(3) + _frames(1, height=400, width=120)
    results = owl.detect(frames, PROMPTS)
    assert len(results) == 4
    for frame, detections in zip(frames, results, strict=True):
        assert len(detections) > 0  # thresholds are 0: every patch scores above
        height, width = frame.shape[:2]
        assert (detections.xyxy[:, [0, 2]] <= width).all() and (detections.xyxy[:, [1, 3]] <= height).all()
        assert (detections.xyxy >= 0).all()
        assert set(detections.data["class_name"]) <= {"pothole", "fallen_tree"}
        assert [PROMPTS[i].category for i in detections.class_id] == list(detections.data["class_name"])


def test_batches_give_the_same_boxes_as_single_frames(owl: OwlDetector) -> None:
    frames = _frames(3)
    batched = owl.detect(frames, PROMPTS)  # batch_size 2: one batch of 2, one of 1
    for frame, together in zip(frames, batched, strict=True):
        alone = owl.detect([frame], PROMPTS)[0]
        assert alone.xyxy == pytest.approx(together.xyxy, abs=1e-3)
        assert alone.class_id.tolist() == together.class_id.tolist()


def test_boxes_on_a_non_square_frame_match_transformers_post_processing(owl: OwlDetector) -> None:
    """OWLv2 pads to a square: boxes scale by the longer side, as transformers' own post-processing does."""
    frame = _frames(1, height=150, width=330)[0]
    # the same tensors the detector feeds the model (its OpenCV letterbox; see the next test)
    inputs = owl.processor(text=[["a pothole", "a tree"]], images=[owl.letterbox(frame)], return_tensors="pt",
                           padding="max_length", truncation=True)
    with torch.inference_mode():
        outputs = owl.model(**inputs)
    threshold = _cut_in_widest_gap(torch.sigmoid(outputs.logits).max(-1).values.numpy())
    plain = OwlDetector(owl.model, owl.processor, nms_iou=None)
    ours = plain.detect(
        [frame], [Prompt("pothole", "a pothole", threshold), Prompt("tree", "a tree", threshold)]
    )[0]
    reference = owl.processor.image_processor.post_process_object_detection(
        outputs, threshold=threshold, target_sizes=[(150, 330)]
    )[0]
    ref_boxes = reference["boxes"].numpy()
    ref_boxes[:, [0, 2]] = ref_boxes[:, [0, 2]].clip(0, 330)
    ref_boxes[:, [1, 3]] = ref_boxes[:, [1, 3]].clip(0, 150)
    assert len(ours) == len(ref_boxes) > 0

    def rows(boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> list[tuple[float, ...]]:
        # ordered by label and score (the same numbers on both paths), not by rounded box
        # coordinates, whose rounding may differ between the two paths and swap rows
        return sorted(
            (int(c), round(float(s), 4), *np.round(b, 2).tolist())
            for b, c, s in zip(boxes, labels, scores, strict=True)
        )

    np.testing.assert_allclose(
        np.array(rows(ours.xyxy, ours.class_id, ours.confidence)),
        np.array(rows(ref_boxes, reference["labels"].numpy(), reference["scores"].numpy())),
        atol=0.02,
    )


def test_crafted_outputs_scale_by_the_longer_side_for_owlv2_and_by_each_side_for_owlvit(
    owl: OwlDetector,
) -> None:
    logits = np.array([[2.0, -2.0]])
    boxes = np.array([[0.5, 0.25, 0.2, 0.1]])
    frame = np.zeros((200, 400, 3), dtype=np.uint8)
    thresholds = np.array([0.5, 0.5])
    v2 = owl.frame_detections(frame, logits, boxes, thresholds, PROMPTS)
    assert v2.xyxy == pytest.approx(np.array([[160, 80, 240, 120]]))
    owl.pads_to_square = False
    try:
        v1 = owl.frame_detections(frame, logits, boxes, thresholds, PROMPTS)
    finally:
        owl.pads_to_square = True
    assert v1.xyxy == pytest.approx(np.array([[160, 40, 240, 60]]))


def test_per_prompt_thresholds(owl: OwlDetector) -> None:
    frames = _frames(1)
    logits, _ = owl.forward(frames, [p.text for p in PROMPTS])
    best, top = (
        logits[0].argmax(axis=1),
        torch.sigmoid(torch.from_numpy(logits[0]).double()).max(1).values.numpy(),
    )
    plain = OwlDetector(owl.model, owl.processor, nms_iou=None)
    everything = plain.detect(frames, PROMPTS)[0]
    assert len(everything) == logits.shape[1]  # thresholds 0: one box per patch
    cut = _cut_in_widest_gap(top[best == 1])
    some_trees = plain.detect(frames, [PROMPTS[0], Prompt("fallen_tree", "a fallen tree", cut)])[0]
    names = list(some_trees.data["class_name"])
    assert names.count("pothole") == int((best == 0).sum())
    assert names.count("fallen_tree") == int(((best == 1) & (top >= cut)).sum()) < int((best == 1).sum())


def test_owlvit_runs_the_same_path(tmp_path: Path) -> None:
    detector = build_tiny_owlv2(tmp_path / "owlvit", v2=False)
    assert not detector.pads_to_square
    frame = _frames(1, height=100, width=260)[0]
    detections = detector.detect([frame], PROMPTS)[0]
    assert len(detections) > 0 and (detections.xyxy[:, [0, 2]] <= 260).all()


def test_bad_input_names_the_field(owl: OwlDetector) -> None:
    with pytest.raises(ValueError, match=r"frames\[1\]: expected an RGB uint8"):
        owl.detect([_frames(1)[0], np.zeros((10, 10), dtype=np.uint8)], PROMPTS)
    with pytest.raises(ValueError, match="prompts"):
        owl.detect(_frames(1), [])


def test_missing_weights_name_the_file(owl_folder: Path, tmp_path: Path) -> None:
    partial = tmp_path / "owl"
    shutil.copytree(owl_folder, partial)
    (partial / "model.safetensors").unlink()
    with pytest.raises(WeightsMissing, match=str(partial / "model.safetensors")):
        OwlDetector.load(partial, device="cpu")


def test_letterbox_gives_the_processor_s_own_pixels(owl: OwlDetector) -> None:
    """Padding and shrinking with OpenCV first feeds the model what transformers' processor would."""
    frame = _frames(1, height=150, width=330)[0]
    theirs = owl.processor.image_processor(images=[frame], return_tensors="pt")["pixel_values"][0]
    ours = owl.processor.image_processor(images=[owl.letterbox(frame)], return_tensors="pt")["pixel_values"][0]
    assert theirs.shape == ours.shape
    assert float((theirs - ours).abs().mean()) < 0.05  # normalised units; resampling filters differ
    assert float((theirs - ours).abs().max()) < 1.5

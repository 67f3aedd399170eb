"""Post-processing on crafted model outputs: captions, token → prompt mapping, thresholds, boxes, NMS."""

from __future__ import annotations

import numpy as np
import pytest

from perception.detectors import postprocess as pp
from perception.types import Prompt


def test_caption_joins_prompts_and_remembers_their_spans() -> None:
    caption = pp.build_caption([Prompt("pothole", "A Pothole."), Prompt("fallen_tree", "fallen   tree")])
    assert caption.text == "a pothole. fallen tree."
    assert [caption.text[s:e] for s, e in caption.spans] == ["a pothole", "fallen tree"]


def test_caption_rejects_empty_prompts() -> None:
    with pytest.raises(ValueError, match="at least one prompt"):
        pp.build_caption([])
    with pytest.raises(ValueError, match="empty"):
        pp.build_caption([Prompt("x", " . ")])


def test_positive_map_assigns_tokens_inside_each_span() -> None:
    # "[CLS] a pothole . fallen tree . [SEP]" with "pothole" split in two word pieces
    offsets = [(0, 0), (0, 1), (2, 5), (5, 9), (9, 10), (11, 17), (18, 22), (22, 23), (0, 0)]
    result = pp.positive_map(offsets, [(0, 9), (11, 22)], num_tokens=12)
    assert result.shape == (2, 12)
    assert np.flatnonzero(result[0]).tolist() == [1, 2, 3]
    assert np.flatnonzero(result[1]).tolist() == [5, 6]


def test_positive_map_names_a_prompt_cut_off_by_the_text_length() -> None:
    offsets = [(0, 0), (0, 1), (2, 9), (9, 10), (11, 17), (18, 22), (22, 23), (0, 0)]
    with pytest.raises(ValueError, match=r"prompts \[1\]"):
        pp.positive_map(offsets, [(0, 9), (11, 22)], num_tokens=4)


def test_grounding_select_labels_thresholds_and_text_threshold() -> None:
    pos_map = np.zeros((2, 8), dtype=bool)
    pos_map[0, 1:3] = True
    pos_map[1, 4:6] = True
    probs = np.full((4, 8), 0.01)
    probs[0, 2] = 0.9  # prompt 0, above both thresholds
    probs[1, 5] = 0.5  # prompt 1, below its own threshold 0.6
    probs[2, [1, 4]] = [0.4, 0.7]  # both prompts light up: the best token (prompt 1) decides
    probs[3, 3] = 0.99  # a separator token: belongs to no prompt → best prompt token is 0.01
    logits = np.log(probs / (1 - probs))
    rows, labels, conf = pp.grounding_select(logits, pos_map, np.array([0.3, 0.6]), text_threshold=0.25)
    assert rows.tolist() == [0, 2]
    assert labels.tolist() == [0, 1]
    assert conf == pytest.approx([0.9, 0.7])
    rows, _, _ = pp.grounding_select(logits, pos_map, np.array([0.3, 0.6]), text_threshold=0.95)
    assert rows.tolist() == []


def test_owl_select_takes_the_best_prompt_per_box_at_its_threshold() -> None:
    probs = np.array([[0.2, 0.7], [0.5, 0.1], [0.05, 0.1]])
    rows, labels, conf = pp.owl_select(np.log(probs / (1 - probs)), np.array([0.4, 0.8]))
    assert rows.tolist() == [1]
    assert labels.tolist() == [0]
    assert conf == pytest.approx([0.5])
    saturated = np.array([[40.0, 45.0]])  # both sigmoids round to 1.0; the logits still differ
    assert pp.owl_select(saturated, np.array([0.5, 0.5]))[1].tolist() == [1]


def test_box_conversion_and_scaling_clip_to_the_frame() -> None:
    xyxy = pp.cxcywh_to_xyxy(np.array([[0.5, 0.5, 0.2, 0.4], [0.95, 0.1, 0.2, 0.4]]))
    assert xyxy == pytest.approx(np.array([[0.4, 0.3, 0.6, 0.7], [0.85, -0.1, 1.05, 0.3]]))
    pixels = pp.to_pixels(xyxy, 400, 200, width=400, height=200)
    assert pixels == pytest.approx(np.array([[160, 60, 240, 140], [340, 0, 400, 60]]))


def test_make_detections_applies_class_wise_nms() -> None:
    prompts = [Prompt("pothole", "pothole"), Prompt("graffiti", "graffiti")]
    xyxy = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], dtype=np.float32)
    detections = pp.make_detections(
        xyxy, np.array([0.9, 0.8, 0.7, 0.6]), np.array([0, 0, 1, 0]), prompts, 0.5
    )
    assert sorted(zip(detections.data["class_name"], detections.confidence.round(2), strict=True)) == [
        ("graffiti", 0.7),
        ("pothole", 0.6),
        ("pothole", 0.9),
    ]
    without = pp.make_detections(xyxy, np.array([0.9, 0.8, 0.7, 0.6]), np.array([0, 0, 1, 0]), prompts, None)
    assert len(without) == 4


def test_thresholds_outside_zero_to_one_name_the_prompt() -> None:
    with pytest.raises(ValueError, match=r"prompts\[1\]\.threshold: 1\.5"):
        pp.thresholds_of([Prompt("a", "a"), Prompt("b", "b", 1.5)])


def test_sigmoid_of_padding_logits_is_zero_without_warnings() -> None:
    assert pp.sigmoid(np.array([-np.inf, 0.0, np.inf])) == pytest.approx([0.0, 0.5, 1.0])

"""GroundingDINO through transformers: a tiny random-weight model end to end; post-processing vs theirs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers.models.grounding_dino.modeling_grounding_dino import GroundingDinoObjectDetectionOutput

from perception.detectors import postprocess as pp
from perception.detectors.base import Detector
from perception.detectors.hf_groundingdino import HFGroundingDino, caption_positive_map
from perception.testing import build_tiny_hf_groundingdino
from perception.types import Prompt, WeightsMissing

PROMPTS = [Prompt("pothole", "a pothole", 0.0), Prompt("fallen_tree", "fallen tree", 0.0)]


@pytest.fixture(scope="session")
def gdino_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hf-gdino")
    build_tiny_hf_groundingdino(folder)
    return folder


@pytest.fixture(scope="session")
def gdino(gdino_folder: Path) -> HFGroundingDino:
    return HFGroundingDino.load(gdino_folder, device="cpu", dtype="float32", batch_size=2, text_threshold=0.0)


def _frames(count: int, height: int = 160, width: int = 240) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def test_detect_runs_the_real_path_to_pixel_boxes_and_categories(gdino: HFGroundingDino) -> None:
    assert isinstance(gdino, Detector)
    frames = _frames(2) + _frames(1, height=300, width=100)
    results = gdino.detect(frames, PROMPTS)
    assert len(results) == 3
    for frame, detections in zip(frames, results, strict=True):
        assert len(detections) > 0
        height, width = frame.shape[:2]
        assert (detections.xyxy >= 0).all()
        assert (detections.xyxy[:, [0, 2]] <= width).all() and (detections.xyxy[:, [1, 3]] <= height).all()
        assert [PROMPTS[i].category for i in detections.class_id] == list(detections.data["class_name"])


def test_batches_of_same_size_frames_match_single_frames(gdino: HFGroundingDino) -> None:
    frames = _frames(3)
    batched = gdino.detect(frames, PROMPTS)
    for frame, together in zip(frames, batched, strict=True):
        alone = gdino.detect([frame], PROMPTS)[0]
        assert alone.xyxy == pytest.approx(together.xyxy, abs=1e-2)
        assert alone.class_id.tolist() == together.class_id.tolist()


def _crafted_logits(pos_map: np.ndarray, length: int) -> torch.Tensor:
    logits = torch.full((1, 6, 256), -6.0)
    logits[:, :, length:] = float("-inf")  # the model pads past the caption with -inf
    p0, p1 = (torch.from_numpy(np.flatnonzero(row)) for row in pos_map)
    logits[0, 0, p0] = 3.0  # "a pothole", sure
    logits[0, 1, p1] = 2.0  # "fallen tree", sure
    logits[0, 2, p0] = 0.0  # 0.5: under the box threshold
    logits[0, 3, p1[-1]] = 1.0  # only "tree" lights up: still the fallen_tree prompt
    logits[0, 5, p0[0]] = 0.2  # 0.55 over the box threshold
    return logits


def test_post_processing_matches_transformers_on_the_same_tensors(gdino: HFGroundingDino) -> None:
    caption = pp.build_caption(PROMPTS)
    tokenizer = gdino.processor.tokenizer
    input_ids = torch.tensor([tokenizer(caption.text)["input_ids"]])
    pos_map = caption_positive_map(tokenizer, caption, 256)
    logits = _crafted_logits(pos_map, input_ids.shape[1])
    boxes = torch.tensor(
        [
            [
                [0.5, 0.5, 0.2, 0.4],
                [0.3, 0.2, 0.1, 0.1],
                [0.6, 0.6, 0.3, 0.3],
                [0.8, 0.7, 0.2, 0.2],
                [0.1, 0.1, 0.1, 0.1],
                [0.4, 0.4, 0.1, 0.2],
            ]
        ]
    )
    width, height = 320, 200
    plain = HFGroundingDino(gdino.model, gdino.processor, text_threshold=0.25, nms_iou=None)
    prompts = [Prompt(p.category, p.text, 0.52) for p in PROMPTS]
    ours = plain.frame_detections(
        width, height, logits[0].numpy(), boxes[0].numpy(), pos_map, pp.thresholds_of(prompts), prompts
    )
    outputs = GroundingDinoObjectDetectionOutput(logits=logits, pred_boxes=boxes)
    reference = gdino.processor.post_process_grounded_object_detection(
        outputs, input_ids=input_ids, threshold=0.52, text_threshold=0.25, target_sizes=[(height, width)]
    )[0]
    assert len(ours) == len(reference["scores"]) == 4
    assert ours.xyxy == pytest.approx(reference["boxes"].numpy(), abs=1e-4)
    assert ours.confidence == pytest.approx(reference["scores"].numpy(), abs=1e-6)
    ours_text = [prompts[i].text for i in ours.class_id]
    assert ours_text[:2] == reference["text_labels"][:2] == ["a pothole", "fallen tree"]
    assert reference["text_labels"][2] in ours_text[2]  # transformers names the lit tokens only ("tree")
    assert list(ours.data["class_name"]) == ["pothole", "fallen_tree", "fallen_tree", "pothole"]


def test_missing_files_name_the_file(gdino_folder: Path, tmp_path: Path) -> None:
    partial = tmp_path / "gd"
    shutil.copytree(gdino_folder, partial)
    (partial / "config.json").unlink()
    with pytest.raises(WeightsMissing, match=str(partial / "config.json")):
        HFGroundingDino.load(partial, device="cpu")


def test_bad_settings_name_the_field(gdino: HFGroundingDino) -> None:
    with pytest.raises(ValueError, match="text_threshold: 2"):
        HFGroundingDino(gdino.model, gdino.processor, text_threshold=2)
    with pytest.raises(ValueError, match=r"frames\[0\]"):
        gdino.detect([np.zeros((5, 5, 4), dtype=np.uint8)], PROMPTS)

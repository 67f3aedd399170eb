"""The official GroundingDINO (groundingdino-py) on a tiny random-weight model: .py + .pth + local BERT."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from perception.detectors import postprocess as pp
from perception.detectors.base import Detector
from perception.detectors.groundingdino_official import OfficialGroundingDino
from perception.testing import build_tiny_official_groundingdino
from perception.types import Prompt, WeightsMissing

PROMPTS = [Prompt("pothole", "a pothole", 0.0), Prompt("fallen_tree", "fallen tree", 0.0)]
TINY = {"shortest_edge": 160, "longest_edge": 320, "text_threshold": 0.0}


@pytest.fixture(scope="session")
def official_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gdino-official")
    build_tiny_official_groundingdino(folder)
    return folder


@pytest.fixture(scope="session")
def official(official_folder: Path) -> OfficialGroundingDino:
    return OfficialGroundingDino.load(official_folder, device="cpu", dtype="float32", batch_size=2, **TINY)


def _frames(count: int, height: int = 120, width: int = 200) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def test_loads_from_the_folder_layout_and_detects(official: OfficialGroundingDino) -> None:
    assert isinstance(official, Detector)
    frames = _frames(2) + _frames(1, height=200, width=90)
    results = official.detect(frames, PROMPTS)
    assert len(results) == 3
    for frame, detections in zip(frames, results, strict=True):
        assert len(detections) > 0
        height, width = frame.shape[:2]
        assert (detections.xyxy >= 0).all()
        assert (detections.xyxy[:, [0, 2]] <= width).all() and (detections.xyxy[:, [1, 3]] <= height).all()
        assert [PROMPTS[i].category for i in detections.class_id] == list(detections.data["class_name"])


def test_loaded_weights_are_the_saved_ones(official_folder: Path, official: OfficialGroundingDino) -> None:
    again = OfficialGroundingDino.load(official_folder, device="cpu", dtype="float32", **TINY)
    frame = _frames(1)[0]
    first, second = official.forward([frame], "a pothole."), again.forward([frame], "a pothole.")
    np.testing.assert_allclose(first[1], second[1], atol=1e-5)


def test_batches_of_same_size_frames_match_single_frames(official: OfficialGroundingDino) -> None:
    frames = _frames(3)
    batched = official.detect(frames, PROMPTS)
    for frame, together in zip(frames, batched, strict=True):
        alone = official.detect([frame], PROMPTS)[0]
        assert alone.xyxy == pytest.approx(together.xyxy, abs=1e-2)


def test_the_official_tokenizer_maps_caption_tokens_to_prompts(official: OfficialGroundingDino) -> None:
    caption = pp.build_caption(PROMPTS)
    encoded = official.model.tokenizer(caption.text, return_offsets_mapping=True)
    pos_map = pp.positive_map([tuple(o) for o in encoded["offset_mapping"]], caption.spans, 256)
    tokens = official.model.tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert [tokens[i] for i in np.flatnonzero(pos_map[0])] == ["a", "pothole"]
    assert "".join(tokens[i] for i in np.flatnonzero(pos_map[1])).replace("##", "") == "fallentree"


def test_missing_checkpoint_or_text_encoder_is_named(official_folder: Path, tmp_path: Path) -> None:
    partial = tmp_path / "gd"
    shutil.copytree(official_folder, partial)
    shutil.rmtree(partial / "bert")
    with pytest.raises(WeightsMissing, match=str(tmp_path / "bert-base-uncased" / "config.json")):
        OfficialGroundingDino.load(partial, device="cpu")
    (partial / "groundingdino_tiny.pth").unlink()
    with pytest.raises(WeightsMissing, match=r"groundingdino_swint_ogc\.pth .*found 0"):
        OfficialGroundingDino.load(partial, device="cpu")

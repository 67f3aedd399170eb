"""CLIP verification on a tiny random-weight open_clip model loaded from the hub folder layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import supervision as sv
import torch

from perception.testing import build_tiny_clip
from perception.types import WeightsMissing
from perception.verify import CategoryPrompts, ClipVerifier


@pytest.fixture(scope="session")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    build_tiny_clip(folder)
    return folder


@pytest.fixture(scope="session")
def verifier(clip_folder: Path) -> ClipVerifier:
    return ClipVerifier.load(clip_folder, device="cpu", dtype="float32")


def _frame() -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (120, 200, 3), dtype=np.uint8)


def _detections(names: list[str]) -> sv.Detections:
    boxes = np.array(
        [[10, 10, 60, 50], [100, 20, 190, 110], [0, 100, 3, 120], [198, 0, 200, 2]], dtype=np.float32
    )
    count = len(names)
    return sv.Detections(
        xyxy=boxes[:count],
        confidence=np.linspace(0.9, 0.5, count).astype(np.float32),
        class_id=np.zeros(count, dtype=int),
        data={"class_name": np.array(names, dtype=object)},
    )


def test_loaded_weights_are_the_saved_ones(clip_folder: Path, verifier: ClipVerifier) -> None:
    saved = torch.load(clip_folder / "open_clip_pytorch_model.bin", weights_only=True)
    loaded = verifier.model.state_dict()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)


def test_a_positive_that_equals_its_negative_sits_exactly_on_margin_zero(verifier: ClipVerifier) -> None:
    tie = {"tree": CategoryPrompts(("a fallen tree",), ("a fallen tree",), margin=0.0)}
    kept = verifier.verify(_frame(), _detections(["tree"] * 4), tie)
    assert len(kept) == 4
    assert kept.data["clip_score"] == pytest.approx([0.5] * 4, abs=1e-5)
    strict = {"tree": CategoryPrompts(("a fallen tree",), ("a fallen tree",), margin=0.01)}
    assert len(verifier.verify(_frame(), _detections(["tree"] * 4), strict)) == 0


def test_kept_boxes_carry_their_normalised_crop_embedding(verifier: ClipVerifier) -> None:
    detections = _detections(["tree", "pothole", "tree"])
    prompts = {
        "tree": CategoryPrompts(("a fallen tree",), margin=-1.0),
        "pothole": CategoryPrompts(("a pothole",), margin=-1.0),
    }
    kept = verifier.verify(_frame(), detections, prompts)
    assert len(kept) == 3
    embeddings = kept.data["embedding"]
    assert embeddings.shape == (3, 32)
    assert np.linalg.norm(embeddings, axis=1) == pytest.approx([1.0] * 3, abs=1e-5)
    np.testing.assert_allclose(embeddings, verifier.embed_crops(_frame(), detections.xyxy), atol=1e-6)
    assert not np.allclose(embeddings[0], embeddings[1])
    assert ((kept.data["clip_score"] > 0) & (kept.data["clip_score"] < 1)).all()


def test_the_margin_decides_per_category(verifier: ClipVerifier) -> None:
    prompts = {
        "tree": CategoryPrompts(("a fallen tree",), margin=-1.0),
        "pothole": CategoryPrompts(("a pothole",), margin=1.0),
    }
    kept = verifier.verify(_frame(), _detections(["tree", "pothole", "tree"]), prompts)
    assert list(kept.data["class_name"]) == ["tree", "tree"]
    assert kept.confidence == pytest.approx([0.9, 0.5])


def test_category_names_use_built_in_prompts(verifier: ClipVerifier) -> None:
    kept = verifier.verify(_frame(), _detections(["fallen_tree", "pothole"]), ["fallen_tree", "pothole"])
    assert len(kept) <= 2 and "clip_score" in kept.data


def test_unknown_categories_and_bad_input_are_named(verifier: ClipVerifier) -> None:
    with pytest.raises(ValueError, match="no CLIP prompts for 'graffiti'"):
        verifier.verify(_frame(), _detections(["graffiti"]), {"tree": CategoryPrompts(("a tree",))})
    with pytest.raises(ValueError, match="frame_rgb"):
        verifier.verify(np.zeros((10, 10), dtype=np.uint8), _detections([]), {})
    with pytest.raises(ValueError, match="positives"):
        CategoryPrompts(())


def test_no_detections_give_empty_results(verifier: ClipVerifier) -> None:
    kept = verifier.verify(_frame(), sv.Detections.empty(), {})
    assert len(kept) == 0 and kept.data["embedding"].shape == (0, 32)


def test_missing_weights_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "open_clip_config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(WeightsMissing, match=str(tmp_path / "open_clip_model.safetensors")):
        ClipVerifier.load(tmp_path, device="cpu")

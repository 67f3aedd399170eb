"""CLIP verification of detector boxes and crop embeddings for semantic search (``open_clip``).

Each candidate box is cropped (with some context), embedded, and scored against its
category's positive texts and a few negatives ("a tree standing upright" for a fallen
tree). A box survives when the positives' share of the softmax beats the best negative by
the category's margin. Survivors carry ``data["clip_score"]`` (the positives' share) and
``data["embedding"]`` (the L2-normalised crop embedding).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import supervision as sv
import torch

from perception.detectors.runtime import DType, require_files, resolve_device, resolve_dtype

DEFAULT_NEGATIVES = ("an empty street", "a road surface", "a wall", "the sky")
WEIGHT_FILES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.safetensors",
)


@dataclass(frozen=True)
class CategoryPrompts:
    """What a category looks like to CLIP, what it must not be mistaken for, and by how much."""

    positives: tuple[str, ...]
    negatives: tuple[str, ...] = DEFAULT_NEGATIVES
    margin: float = 0.0

    def __post_init__(self) -> None:
        if not self.positives:
            raise ValueError("positives: at least one text is required")
        if not self.negatives:
            raise ValueError("negatives: at least one text is required")
        if not -1.0 <= self.margin <= 1.0:
            raise ValueError(f"margin: {self.margin} is outside -1..1")


def _known(positive: str, *negatives: str) -> CategoryPrompts:
    return CategoryPrompts((positive,), (*negatives, "an empty street"))


KNOWN_CATEGORIES: dict[str, CategoryPrompts] = {
    "fallen_tree": _known("a fallen tree lying across a street", "a tree standing upright"),
    "fallen_bicycle": _known("a bicycle lying on the ground", "a bicycle parked upright"),
    "exposed_garbage": _known("a pile of garbage on the street", "a closed garbage bin"),
    "waterlogging": _known("a flooded street", "a wet road after rain"),
    "pothole": _known("a pothole in the road", "a manhole cover", "a road surface"),
    "graffiti": _known("graffiti sprayed on a wall", "a clean wall", "a street sign"),
}


def prompts_for(category: str) -> CategoryPrompts:
    """Built-in prompts for the sample categories; otherwise "a photo of <category>"."""
    return KNOWN_CATEGORIES.get(category) or CategoryPrompts((f"a photo of {category.replace('_', ' ')}",))


class ClipVerifier:
    """Verifies boxes with an open_clip model; ``prompts`` overrides the built-in category prompts."""

    def __init__(
        self,
        model: Any,
        preprocess: Any,
        tokenizer: Any,
        *,
        name: str = "clip",
        crop_padding: float = 0.1,
        batch_size: int = 32,
        prompts: Mapping[str, CategoryPrompts] | None = None,
    ) -> None:
        if not 0.0 <= crop_padding <= 1.0:
            raise ValueError(f"crop_padding: {crop_padding} is outside 0..1")
        if batch_size < 1:
            raise ValueError(f"batch_size: {batch_size} must be 1 or more")
        self.model, self.preprocess, self.tokenizer = model.eval(), preprocess, tokenizer
        self.name, self.crop_padding, self.batch_size = name, crop_padding, batch_size
        parameter = next(model.parameters())
        self.device, self.dtype = parameter.device, parameter.dtype
        self.prompts = dict(prompts or {})
        self._text_cache: dict[str, np.ndarray] = {}

    @classmethod
    def load(
        cls, folder: Path, *, name: str = "clip", device: str = "auto", dtype: DType = "auto", **options: Any
    ) -> ClipVerifier:
        """An open_clip model folder: ``open_clip_config.json`` (with ``model_cfg``) and its weights.

        That is the layout of open_clip repositories on the Hugging Face hub; ``WeightsMissing``
        names the first missing file.
        """
        import open_clip

        require_files(name, folder, ("open_clip_config.json", WEIGHT_FILES))
        torch_device = resolve_device(device)
        model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
        model = model.to(torch_device, resolve_dtype(dtype, torch_device))
        return cls(model, preprocess, open_clip.get_tokenizer(f"local-dir:{folder}"), name=name, **options)

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised text embeddings ``[len(texts), dim]``, cached per text."""
        new = [t for t in dict.fromkeys(texts) if t not in self._text_cache]
        if new:
            features = self.model.encode_text(self.tokenizer(new).to(self.device))
            features = torch.nn.functional.normalize(features.float(), dim=-1).cpu().numpy()
            self._text_cache.update(zip(new, features, strict=True))
        return np.stack([self._text_cache[t] for t in texts])

    def crops(self, frame_rgb: np.ndarray, xyxy: np.ndarray) -> list[np.ndarray]:
        """Each box widened by ``crop_padding`` of its size on every side, clipped to the frame."""
        height, width = frame_rgb.shape[:2]
        result = []
        for x1, y1, x2, y2 in xyxy:
            pad_x, pad_y = (x2 - x1) * self.crop_padding, (y2 - y1) * self.crop_padding
            left, top = int(max(0, np.floor(x1 - pad_x))), int(max(0, np.floor(y1 - pad_y)))
            right = int(min(width, max(left + 1, np.ceil(x2 + pad_x))))
            bottom = int(min(height, max(top + 1, np.ceil(y2 + pad_y))))
            left, top = min(left, right - 1), min(top, bottom - 1)
            result.append(frame_rgb[top:bottom, left:right])
        return result

    @torch.inference_mode()
    def embed_crops(self, frame_rgb: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        """L2-normalised image embeddings of the boxes' crops ``[len(xyxy), dim]``."""
        from PIL import Image

        crops = self.crops(frame_rgb, xyxy)
        parts = []
        for start in range(0, len(crops), self.batch_size):
            batch = torch.stack(
                [self.preprocess(Image.fromarray(c)) for c in crops[start : start + self.batch_size]]
            )
            features = self.model.encode_image(batch.to(self.device, self.dtype))
            parts.append(torch.nn.functional.normalize(features.float(), dim=-1).cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, self.embedding_dim), dtype=np.float32)

    @property
    def embedding_dim(self) -> int:
        return int(self.embed_texts(["a photo"]).shape[1])

    def verify(
        self,
        frame_rgb: np.ndarray,
        detections: sv.Detections,
        categories: Mapping[str, CategoryPrompts] | Sequence[str],
    ) -> sv.Detections:
        """The detections CLIP agrees with, with ``clip_score`` and ``embedding`` added.

        ``categories`` maps each category to its prompts; a plain list of category names
        uses the verifier's ``prompts`` and then the built-in ones.
        """
        if not isinstance(categories, Mapping):
            categories = {c: self.prompts.get(c) or prompts_for(c) for c in categories}
        if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
            raise ValueError(
                f"frame_rgb: expected an RGB uint8 array HxWx3, got {frame_rgb.dtype} {frame_rgb.shape}"
            )
        if len(detections) and "class_name" not in detections.data:
            raise ValueError("detections: data['class_name'] is required to choose the CLIP prompts")
        names = np.asarray(detections.data.get("class_name", []), dtype=object).astype(str)
        unknown = sorted({str(n) for n in names} - set(categories))
        if unknown:
            raise ValueError(f"categories: no CLIP prompts for {', '.join(map(repr, unknown))}")
        embeddings = self.embed_crops(frame_rgb, detections.xyxy)
        scores = np.zeros(len(detections), dtype=np.float32)
        keep = np.zeros(len(detections), dtype=bool)
        scale = float(self.model.logit_scale.detach().float().exp())
        for category in sorted(set(names)):
            rows = np.flatnonzero(names == category)
            prompts = categories[category]
            texts = self.embed_texts([*prompts.positives, *prompts.negatives])
            logits = scale * embeddings[rows] @ texts.T
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            positive = probs[:, : len(prompts.positives)].sum(axis=1)
            best_negative = probs[:, len(prompts.positives) :].max(axis=1)
            scores[rows] = positive
            keep[rows] = positive - best_negative >= prompts.margin
        kept = cast(sv.Detections, detections[keep])
        kept.data["clip_score"] = scores[keep]
        kept.data["embedding"] = embeddings[keep].astype(np.float32)
        return kept

"""Post-processing shared by the detector backends: boxes, prompt-token mapping, thresholds, NMS.

Everything here works on ``numpy`` arrays taken from one image's model outputs, so it can be
checked numerically on crafted outputs without a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import supervision as sv

from perception.types import Prompt


@dataclass(frozen=True)
class Caption:
    """A GroundingDINO caption ``"a. b. c."`` and the character span of each prompt in it."""

    text: str
    spans: tuple[tuple[int, int], ...]


def prompt_phrase(text: str) -> str:
    """A prompt as GroundingDINO expects it: lower case, no trailing full stop."""
    phrase = " ".join(text.lower().split()).rstrip(". ")
    if not phrase:
        raise ValueError(f"prompt text {text!r} is empty once its full stops are removed")
    return phrase


def build_caption(prompts: Sequence[Prompt]) -> Caption:
    """Join the prompts as ``"a. b. c."`` and remember where each one sits."""
    if not prompts:
        raise ValueError("prompts: at least one prompt is required")
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    position = 0
    for prompt in prompts:
        phrase = prompt_phrase(prompt.text)
        spans.append((position, position + len(phrase)))
        parts.append(phrase + ".")
        position += len(phrase) + 2  # ". " between phrases
    return Caption(" ".join(parts), tuple(spans))


def positive_map(
    offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]], num_tokens: int
) -> np.ndarray:
    """``[prompts, num_tokens]`` booleans: which token positions belong to which prompt.

    ``offsets`` are the tokenizer's character offsets of the caption's tokens (special tokens
    have ``(0, 0)``); positions past ``len(offsets)`` (padding up to the model's text length)
    belong to no prompt.
    """
    result = np.zeros((len(spans), num_tokens), dtype=bool)
    for token, (start, end) in enumerate(offsets[:num_tokens]):
        if end <= start:
            continue
        for index, (span_start, span_end) in enumerate(spans):
            if start >= span_start and end <= span_end:
                result[index, token] = True
                break
    missing = [i for i in range(len(spans)) if not result[i].any()]
    if missing:
        raise ValueError(
            f"prompts {missing}: no token of the caption falls inside them "
            f"(the text encoder holds {num_tokens} tokens at most)"
        )
    return result


def grounding_select(
    logits: np.ndarray, pos_map: np.ndarray, thresholds: np.ndarray, text_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Choose a prompt for every query of a grounding model and apply the thresholds.

    ``logits`` is ``[queries, tokens]``. A query's label is the prompt owning its most
    probable caption token (separators and special tokens belong to no prompt), its
    confidence that token's probability. It is kept when the confidence is above
    ``text_threshold`` and reaches the chosen prompt's own threshold (the box threshold).
    The choice is made on logits, which do not saturate. Returns ``(query indices, prompt
    indices, confidences)``.
    """
    tokens = min(logits.shape[1], pos_map.shape[1])
    logits, pos_map = logits[:, :tokens].astype(np.float64), pos_map[:, :tokens]
    best = np.where(pos_map[None, :, :], logits[:, None, :], -np.inf).max(axis=2)  # [queries, prompts]
    chosen = np.argmax(best, axis=1)
    rows = np.arange(logits.shape[0])
    confidence = sigmoid(best[rows, chosen])
    keep = (confidence > text_threshold) & (confidence >= thresholds[chosen])
    return rows[keep], chosen[keep], confidence[keep]


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Logistic function without overflow warnings (``-inf`` padding logits give 0)."""
    return 0.5 * (1.0 + np.tanh(0.5 * logits.astype(np.float64)))


def owl_select(logits: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``logits`` ``[boxes, prompts]`` → the best prompt per box, kept at its prompt's threshold.

    The choice is made on logits: sigmoid saturates to 1.0 for large ones, which would tie.
    """
    chosen = np.argmax(logits, axis=1)
    rows = np.arange(logits.shape[0])
    confidence = sigmoid(logits[rows, chosen])
    keep = confidence >= thresholds[chosen]
    return rows[keep], chosen[keep], confidence[keep]


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    cx, cy, w, h = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def to_pixels(boxes_xyxy: np.ndarray, scale_w: float, scale_h: float, width: int, height: int) -> np.ndarray:
    """Normalised ``xyxy`` times the scale, clipped to the ``width`` × ``height`` frame."""
    pixels = boxes_xyxy * np.array([scale_w, scale_h, scale_w, scale_h], dtype=np.float64)
    pixels[:, [0, 2]] = pixels[:, [0, 2]].clip(0, width)
    pixels[:, [1, 3]] = pixels[:, [1, 3]].clip(0, height)
    return pixels.astype(np.float32)


def make_detections(
    xyxy: np.ndarray,
    confidence: np.ndarray,
    class_id: np.ndarray,
    prompts: Sequence[Prompt],
    nms_iou: float | None,
) -> sv.Detections:
    """The protocol's ``Detections`` (``class_name`` = category), after class-wise NMS."""
    categories = np.array([p.category for p in prompts], dtype=object)
    class_id = class_id.astype(int)
    detections = sv.Detections(
        xyxy=xyxy.reshape(-1, 4).astype(np.float32),
        confidence=confidence.astype(np.float32),
        class_id=class_id,
        data={"class_name": categories[class_id] if len(class_id) else np.array([], dtype=object)},
    )
    if nms_iou is None or len(detections) < 2:
        return detections
    return detections.with_nms(threshold=nms_iou, class_agnostic=False)


def thresholds_of(prompts: Sequence[Prompt]) -> np.ndarray:
    for index, prompt in enumerate(prompts):
        if not 0.0 <= prompt.threshold <= 1.0:
            raise ValueError(f"prompts[{index}].threshold: {prompt.threshold} is outside 0..1")
    return np.array([p.threshold for p in prompts], dtype=np.float32)

"""GroundingDINO through ``transformers``: one caption "a. b. c." for all prompts, one forward per batch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
import torch

from perception.detectors import postprocess as pp
from perception.detectors.runtime import (
    DType,
    TransformersDetector,
    batches,
    check_frames,
    load_zero_shot_detector,
    writable,
)
from perception.types import Prompt

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def caption_positive_map(tokenizer: Any, caption: pp.Caption, num_tokens: int) -> np.ndarray:
    """Which of the model's text positions belong to which prompt of ``caption``."""
    encoded = tokenizer(caption.text, return_offsets_mapping=True)
    return pp.positive_map([tuple(o) for o in encoded["offset_mapping"]], caption.spans, num_tokens)


class HFGroundingDino(TransformersDetector):
    """A ``transformers`` GroundingDINO checkpoint folder as a ``Detector``.

    Each box's label is the prompt owning its phrase (the caption tokens above
    ``text_threshold``); it is kept when its best token in that prompt reaches the prompt's
    threshold (the box threshold).
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        name: str = "hf-groundingdino",
        batch_size: int = 4,
        text_threshold: float = 0.25,
        nms_iou: float | None = 0.5,
    ) -> None:
        if not 0.0 <= text_threshold <= 1.0:
            raise ValueError(f"text_threshold: {text_threshold} is outside 0..1")
        super().__init__(model, processor, name=name, batch_size=batch_size, nms_iou=nms_iou)
        self.text_threshold = text_threshold

    @classmethod
    def load(
        cls,
        folder: Path,
        *,
        name: str = "hf-groundingdino",
        device: str = "auto",
        dtype: DType = "auto",
        batch_size: int = 4,
        text_threshold: float = 0.25,
        nms_iou: float | None = 0.5,
    ) -> HFGroundingDino:
        """Load a ``save_pretrained`` folder; ``WeightsMissing`` names the first missing file."""
        model, processor = load_zero_shot_detector(
            folder, name=name, device=device, dtype=dtype, model_types=("grounding-dino",),
            files=("config.json", PROCESSOR_FILES, ("vocab.txt", "tokenizer.json"), WEIGHT_FILES),
        )
        return cls(
            model,
            processor,
            name=name,
            batch_size=batch_size,
            text_threshold=text_threshold,
            nms_iou=nms_iou,
        )

    def detect(self, frames: Sequence[np.ndarray], prompts: Sequence[Prompt]) -> list[sv.Detections]:
        check_frames(frames)
        caption = pp.build_caption(prompts)
        thresholds = pp.thresholds_of(prompts)
        pos_map = caption_positive_map(self.processor.tokenizer, caption, self.model.config.max_text_len)
        results: list[sv.Detections] = []
        for part in batches(len(frames), self.batch_size):
            chunk = writable(frames[part])
            logits, boxes = self.forward(chunk, caption.text)
            for frame, frame_logits, frame_boxes in zip(chunk, logits, boxes, strict=True):
                results.append(
                    self.frame_detections(
                        frame.shape[1],
                        frame.shape[0],
                        frame_logits,
                        frame_boxes,
                        pos_map,
                        thresholds,
                        prompts,
                    )
                )
        return results

    @torch.inference_mode()
    def forward(self, frames: list[np.ndarray], caption: str) -> tuple[np.ndarray, np.ndarray]:
        """``(logits [B, queries, text_len], boxes [B, queries, 4] normalised cxcywh)`` for a batch."""
        inputs = self.processor(
            images=frames, text=[caption] * len(frames), return_tensors="pt", device=str(self.device)
        )  # resize and normalise on the model's device
        inputs = {
            k: v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device)
            for k, v in inputs.items()
        }
        outputs = self.model(**inputs)
        return outputs.logits.float().cpu().numpy(), outputs.pred_boxes.float().cpu().numpy()

    def frame_detections(
        self,
        width: int,
        height: int,
        logits: np.ndarray,
        boxes: np.ndarray,
        pos_map: np.ndarray,
        thresholds: np.ndarray,
        prompts: Sequence[Prompt],
    ) -> sv.Detections:
        """One frame's raw outputs → pixel boxes, prompt labels, thresholds and NMS."""
        rows, class_id, confidence = pp.grounding_select(logits, pos_map, thresholds, self.text_threshold)
        xyxy = pp.to_pixels(pp.cxcywh_to_xyxy(boxes[rows]), width, height, width, height)
        return pp.make_detections(xyxy, confidence, class_id, prompts, self.nms_iou)

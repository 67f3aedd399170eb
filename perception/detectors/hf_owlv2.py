"""OWLv2 and OWL-ViT through ``transformers``: text queries → boxes, one forward per batch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
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
OWL_MODEL_TYPES = ("owlv2", "owlvit")


class OwlDetector(TransformersDetector):
    """An OWLv2 (or OWL-ViT) checkpoint folder as a ``Detector``.

    OWLv2 pads every image to a square (bottom and right) before resizing, so its boxes are
    fractions of the padded square: they are scaled by the longer side. OWL-ViT resizes
    without padding: its boxes scale by width and height.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        name: str = "owlv2",
        batch_size: int = 8,
        nms_iou: float | None = 0.5,
    ) -> None:
        super().__init__(model, processor, name=name, batch_size=batch_size, nms_iou=nms_iou)
        self.pads_to_square = model.config.model_type == "owlv2"

    @classmethod
    def load(
        cls,
        folder: Path,
        *,
        name: str = "owlv2",
        device: str = "auto",
        dtype: DType = "auto",
        batch_size: int = 8,
        nms_iou: float | None = 0.5,
    ) -> OwlDetector:
        """Load a ``save_pretrained`` folder; ``WeightsMissing`` names the first missing file."""
        model, processor = load_zero_shot_detector(
            folder, name=name, device=device, dtype=dtype, model_types=OWL_MODEL_TYPES,
            files=("config.json", PROCESSOR_FILES, WEIGHT_FILES),
        )
        return cls(
            model, processor, name=name, batch_size=batch_size, nms_iou=nms_iou
        )

    def detect(self, frames: Sequence[np.ndarray], prompts: Sequence[Prompt]) -> list[sv.Detections]:
        check_frames(frames)
        if not prompts:
            raise ValueError("prompts: at least one prompt is required")
        thresholds = pp.thresholds_of(prompts)
        texts = [p.text for p in prompts]
        results: list[sv.Detections] = []
        for part in batches(len(frames), self.batch_size):
            chunk = writable(frames[part])
            logits, boxes = self.forward(chunk, texts)
            for frame, frame_logits, frame_boxes in zip(chunk, logits, boxes, strict=True):
                results.append(self.frame_detections(frame, frame_logits, frame_boxes, thresholds, prompts))
        return results

    @torch.inference_mode()
    def forward(self, frames: list[np.ndarray], texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(logits [B, boxes, prompts], boxes [B, boxes, 4] normalised cxcywh)`` for a batch."""
        # prompts of different lengths: pad to the text model's fixed length (16 for OWL)
        inputs = self.processor(
            text=[texts] * len(frames),
            images=[self.letterbox(frame) for frame in frames],
            return_tensors="pt",
            padding="max_length",
            truncation=True,
        )
        inputs = {
            k: v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device)
            for k, v in inputs.items()
        }
        outputs = self.model(**inputs)
        return outputs.logits.float().cpu().numpy(), outputs.pred_boxes.float().cpu().numpy()

    def letterbox(self, frame: np.ndarray) -> np.ndarray:
        """The frame as the model will see it, made with OpenCV: padded bottom/right to a square
        (black, as transformers' processor pads) and shrunk to the input size. The processor's own pad and resize
        of a 720p frame cost ~0.6 s on a CPU; on this already-sized image they cost ~0.04 s.
        The boxes stay normalised to the padded square, as they would be without this step."""
        size = self.processor.image_processor.size
        target_h, target_w = int(size["height"]), int(size["width"])
        height, width = frame.shape[:2]
        if self.pads_to_square and height != width:
            side = max(height, width)
            square = np.zeros((side, side, 3), np.uint8)  # transformers pads with 0
            square[:height, :width] = frame
            frame = square
        if frame.shape[0] == target_h and frame.shape[1] == target_w:
            return frame
        shrinking = frame.shape[0] > target_h
        return cv2.resize(frame, (target_w, target_h),
                          interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)

    def frame_detections(
        self,
        frame: np.ndarray,
        logits: np.ndarray,
        boxes: np.ndarray,
        thresholds: np.ndarray,
        prompts: Sequence[Prompt],
    ) -> sv.Detections:
        """One frame's detections from its ``forward`` outputs (``logits [boxes, prompts]``,
        normalised cxcywh ``boxes``), in the frame's own pixels."""
        height, width = frame.shape[:2]
        rows, class_id, confidence = pp.owl_select(logits, thresholds)
        side_w, side_h = (max(height, width),) * 2 if self.pads_to_square else (width, height)
        xyxy = pp.to_pixels(pp.cxcywh_to_xyxy(boxes[rows]), side_w, side_h, width, height)
        return pp.make_detections(xyxy, confidence, class_id, prompts, self.nms_iou)

"""Device, dtype, frame checks and file checks shared by the torch-based backends."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from perception.types import WeightsMissing

DType = Literal["auto", "float32", "float16", "bfloat16"]
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str) -> torch.device:
    """``"auto"`` is CUDA when available, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: DType, device: torch.device) -> torch.dtype:
    """``"auto"`` is bfloat16 on CUDA (float16 where bf16 is unsupported), float32 on the CPU."""
    if dtype != "auto":
        return _DTYPES[dtype]
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def check_frames(frames: Sequence[np.ndarray]) -> None:
    for index, frame in enumerate(frames):
        if (
            not isinstance(frame, np.ndarray)
            or frame.dtype != np.uint8
            or frame.ndim != 3
            or frame.shape[2] != 3
        ):
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(f"frames[{index}]: expected an RGB uint8 array HxWx3, got {got}")
        if frame.shape[0] < 2 or frame.shape[1] < 2:
            raise ValueError(f"frames[{index}]: {frame.shape[1]}x{frame.shape[0]} is smaller than 2x2 pixels")


def writable(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Read-only frames (``np.asarray`` of a PIL image) copied: torch warns on non-writable arrays."""
    return [f if f.flags.writeable else f.copy() for f in frames]


def batches(count: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, count, batch_size):
        yield slice(start, min(start + batch_size, count))


def require_files(name: str, folder: Path, groups: Sequence[str | tuple[str, ...]]) -> None:
    """``WeightsMissing`` naming the first missing file; a tuple is a set of alternatives."""
    for group in groups:
        options = (group,) if isinstance(group, str) else group
        if not any((folder / f).is_file() for f in options):
            hint = "or " + ", ".join(options[1:]) if len(options) > 1 else ""
            raise WeightsMissing(name, str(folder / options[0]), hint=hint)


def load_zero_shot_detector(
    folder: Path, *, name: str, device: str, dtype: DType,
    files: Sequence[str | tuple[str, ...]], model_types: Sequence[str],
) -> tuple[Any, Any]:
    """A ``save_pretrained`` zero-shot detector folder as (model on its device, processor).

    ``WeightsMissing`` names the first missing file; a model of another type is a ValueError.
    """
    from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

    require_files(name, folder, files)
    torch_device = resolve_device(device)
    model = AutoModelForZeroShotObjectDetection.from_pretrained(
        folder, dtype=resolve_dtype(dtype, torch_device)
    ).to(torch_device)
    if model.config.model_type not in model_types:
        raise ValueError(f"{folder}: model_type {model.config.model_type!r} is not one of {tuple(model_types)}")
    return model, AutoProcessor.from_pretrained(folder)


class TransformersDetector:
    """What the ``transformers`` zero-shot detectors share: the model in eval mode, its
    processor, the device and dtype its weights are on, the batch size and the NMS IoU."""

    def __init__(self, model: Any, processor: Any, *, name: str, batch_size: int,
                 nms_iou: float | None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size: {batch_size} must be 1 or more")
        self.model, self.processor = model.eval(), processor
        self.name, self.batch_size, self.nms_iou = name, batch_size, nms_iou
        parameter = next(model.parameters())
        self.device, self.dtype = parameter.device, parameter.dtype

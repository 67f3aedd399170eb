"""The one protocol every open-vocabulary detector backend implements.

Frames in, ``supervision.Detections`` out: boxes in pixel ``xyxy`` of the frame given,
``confidence``, ``class_id`` = index of the matching entry in the ``prompts`` list, and
``data["class_name"]`` = that prompt's category code. Thresholds are per prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import supervision as sv


@dataclass(frozen=True)
class Prompt:
    """One thing to look for: the category it stands for, the text, its threshold."""

    category: str
    text: str
    threshold: float = 0.3


@runtime_checkable
class Detector(Protocol):
    name: str

    def detect(self, frames: Sequence[np.ndarray], prompts: Sequence[Prompt]) -> list[sv.Detections]:
        """One ``Detections`` per frame (RGB ``uint8`` HxWx3), in the same order."""
        ...


class WeightsMissing(RuntimeError):
    """A detector's or CLIP model's weights are not where the configuration says."""

    def __init__(self, name: str, path: str, hint: str = "") -> None:
        self.name, self.path = name, path
        super().__init__(f"{name}: weights not found at {path}" + (f" ({hint})" if hint else ""))

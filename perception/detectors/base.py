"""The one protocol every open-vocabulary detector backend implements.

Frames in, ``supervision.Detections`` out: boxes in pixel ``xyxy`` of the frame given,
``confidence``, ``class_id`` = index of the matching entry in the ``prompts`` list, and
``data["class_name"]`` = that prompt's category code. Thresholds are per prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import supervision as sv

from perception.types import Prompt


@runtime_checkable
class Detector(Protocol):
    name: str

    def detect(self, frames: Sequence[np.ndarray], prompts: Sequence[Prompt]) -> list[sv.Detections]:
        """One ``Detections`` per frame (RGB ``uint8`` HxWx3), in the same order."""
        ...

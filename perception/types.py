"""Perception's light types: what the city file, the API and the dispatcher need to know
about cameras and detectors without importing numpy-heavy code, torch or supervision."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    """One thing to look for: the category it stands for, the text, its threshold."""

    category: str
    text: str
    threshold: float = 0.3


class WeightsMissing(RuntimeError):
    """A detector's or CLIP model's weights are not where the configuration says."""

    def __init__(self, name: str, path: str, hint: str = "") -> None:
        self.name, self.path = name, path
        super().__init__(f"{name}: weights not found at {path}" + (f" ({hint})" if hint else ""))


def redact(source: str) -> str:
    """A source (or a message naming one) for logs and health pages: every
    ``rtsp://user:secret@host`` in it loses its password."""
    return re.sub(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@", r"\1***@", source)

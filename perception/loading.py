"""Composition of perception from the settings: which detector, which verifier, which prompts.

Weights are looked for once, here (``cityloop models pull`` puts them where this looks).
When they are missing, ``PerceptionOff`` says exactly which file and how to get it; callers
print that and carry on without perception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perception.settings import PerceptionSettings
from perception.types import WeightsMissing

if TYPE_CHECKING:
    from perception.detectors.base import Detector


class PerceptionOff(RuntimeError):
    """Perception cannot run here; the message says why and what to do."""


def _folder(settings: PerceptionSettings, name: str, path: Path | None) -> Path:
    if path is not None:
        return path.expanduser()
    from perception import weights

    try:
        return weights.check(name, settings.resolved_models_dir())
    except WeightsMissing as exc:
        raise PerceptionOff(f"perception is off: {exc}") from None
    except ValueError as exc:  # unknown model name
        raise PerceptionOff(f"perception is off: perception.model: {exc}") from None


def build_detector(settings: PerceptionSettings) -> Detector:
    """The configured detector, loaded; ``PerceptionOff`` when disabled or weights are missing."""
    if not settings.enabled:
        raise PerceptionOff("perception is off: perception.enabled is false")
    folder = _folder(settings, settings.model, settings.model_path)
    try:
        if settings.backend == "owlv2":
            from perception.detectors.hf_owlv2 import OwlDetector

            return OwlDetector.load(folder, device=settings.device, batch_size=settings.batch_size)
        if settings.backend == "hf-groundingdino":
            from perception.detectors.hf_groundingdino import HFGroundingDino

            return HFGroundingDino.load(folder, device=settings.device, batch_size=settings.batch_size)
        from perception.detectors.groundingdino_official import OfficialGroundingDino

        return OfficialGroundingDino.load(folder, device=settings.device,
                                          batch_size=settings.batch_size)
    except WeightsMissing as exc:
        raise PerceptionOff(f"perception is off: {exc}") from None
    except ImportError as exc:
        raise PerceptionOff(f"perception is off: the {settings.backend} backend cannot be imported "
                            f"({exc}); install with ./dev install") from None


def build_verifier(settings: PerceptionSettings, prompts: Mapping[str, Any] | None = None) -> Any | None:
    """The CLIP verifier, or None when not configured. Missing weights turn perception off."""
    if settings.clip_model is None and settings.clip_model_path is None:
        return None
    from perception.verify import ClipVerifier

    name = settings.clip_model or "clip"
    folder = _folder(settings, name, settings.clip_model_path)
    try:
        return ClipVerifier.load(folder, device=settings.device, prompts=prompts)
    except WeightsMissing as exc:
        raise PerceptionOff(f"perception is off: {exc}") from None


@dataclass(frozen=True)
class PerceptionStatus:
    on: bool
    reason: str
    backend: str
    model: str

    def as_dict(self) -> dict[str, object]:
        return {"on": self.on, "reason": self.reason, "backend": self.backend, "model": self.model}


def status(settings: PerceptionSettings) -> PerceptionStatus:
    """Whether perception could start, without loading any model (cheap; for `up` and health)."""
    model = str(settings.model_path or settings.model)
    if not settings.enabled:
        return PerceptionStatus(False, "perception.enabled is false", settings.backend, model)
    try:
        folder = _folder(settings, settings.model, settings.model_path)
        if not folder.is_dir():
            return PerceptionStatus(False, f"perception is off: {folder} is not a folder",
                                    settings.backend, model)
        if settings.clip_model is not None or settings.clip_model_path is not None:
            _folder(settings, settings.clip_model or "clip", settings.clip_model_path)
    except PerceptionOff as exc:
        return PerceptionStatus(False, str(exc), settings.backend, model)
    return PerceptionStatus(True, "weights present", settings.backend, model)

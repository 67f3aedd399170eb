"""Perception's settings: which detector, which CLIP verifier, where their weights are."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

DEFAULT_MODELS_DIR = Path("~/.cache/cityloop/models")


class PerceptionSettings(BaseModel):
    """The detector, the CLIP verifier and where their weights are (``cityloop models``)."""

    enabled: bool = True
    backend: Literal["owlv2", "hf-groundingdino", "groundingdino"] = "owlv2"
    # a name from ``cityloop models list`` (looked up under models_dir), or a local folder
    model: str = "owlv2-base-patch16-ensemble"
    model_path: Path | None = None
    clip_model: str | None = "clip-vit-b-32"
    clip_model_path: Path | None = None
    models_dir: Path | None = None  # default: $CITYLOOP_MODELS_DIR or ~/.cache/cityloop/models
    device: str = "auto"
    batch_size: int = Field(default=4, ge=1, le=256)
    # uploaded clips wait here for a perception worker
    spool_dir: Path = Path("var/clips")
    max_clip_bytes: int = Field(default=500_000_000, ge=1)

    @field_validator("clip_model", mode="before")
    @classmethod
    def _clip_off(cls, value: object) -> object:
        """``PERCEPTION__CLIP_MODEL=none`` (or empty) turns CLIP verification off."""
        return None if isinstance(value, str) and value.strip().lower() in ("", "none", "off") else value

    def resolved_models_dir(self) -> Path:
        if self.models_dir is not None:
            return self.models_dir.expanduser()
        return Path(os.environ.get("CITYLOOP_MODELS_DIR", str(DEFAULT_MODELS_DIR))).expanduser()

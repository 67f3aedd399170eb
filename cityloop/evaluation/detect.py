"""AP@0.5 of an open-vocabulary detector on YOLO-format labelled images (``cityloop eval detect``).

The scoring itself is ``perception.evaluation``; this module picks the detector (real
weights, or a tiny random-weight model that only shows the evaluation runs end to end),
turns class names into prompts and feeds the images in batches.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perception.detectors.base import Detector
    from perception.evaluation import Report
    from perception.types import Prompt

BACKENDS = ("owlv2", "hf-groundingdino", "groundingdino")
RANDOM_WEIGHTS_NOTE = (
    "NOTE: --tiny runs a tiny model with RANDOM weights: the AP figures below are "
    "meaningless; they only show that the evaluation runs end to end."
)


@contextmanager
def open_detector(backend: str, *, tiny: bool, models_root: Path, device: str,
                  batch_size: int) -> Iterator[Detector]:
    """The backend's detector from ``models_root`` (``WeightsMissing`` names the missing file),
    or with ``tiny`` a random-weight model built in a temporary folder."""
    from perception import testing, weights

    if not tiny:
        yield weights.load_detector(weights.DETECTOR_BACKENDS[backend], models_root, device=device,
                                    batch_size=batch_size)
        return
    builders: dict[str, Callable[..., Detector]] = {
        "owlv2": testing.build_tiny_owlv2,
        "hf-groundingdino": testing.build_tiny_hf_groundingdino,
        "groundingdino": testing.build_tiny_official_groundingdino,
    }
    with tempfile.TemporaryDirectory(prefix="cityloop-tiny-") as folder:
        yield builders[backend](Path(folder), batch_size=batch_size)


def prompts_for(class_names: list[str], overrides: Sequence[str], threshold: float) -> list[Prompt]:
    """One prompt per class: its name in lower case unless ``CLASS=TEXT`` in ``overrides`` says."""
    from perception.types import Prompt

    texts = {name: name.lower().replace("_", " ") for name in class_names}
    for item in overrides:
        name, sep, text = item.partition("=")
        if not sep or name not in texts or not text.strip():
            raise ValueError(f"--prompt {item!r}: expected CLASS=TEXT with CLASS one of {class_names}")
        texts[name] = text.strip()
    return [Prompt(name, texts[name], threshold) for name in class_names]


def score(detector: Detector, *, images: list[Path], labels_dir: Path, class_names: list[str],
          prompts: list[Prompt], batch_size: int) -> Report:
    """Detect on ``images`` in batches and score against their labels (``LabelError`` if one is bad)."""
    import numpy as np
    from PIL import Image

    from perception import evaluation as ev

    samples, predictions = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        frames = [np.asarray(Image.open(p).convert("RGB")) for p in batch]
        predictions += detector.detect(frames, prompts)
        samples += [ev.load_sample(p, labels_dir, (f.shape[1], f.shape[0]), len(class_names))
                    for p, f in zip(batch, frames, strict=True)]
    return ev.evaluate(samples, predictions, class_names)

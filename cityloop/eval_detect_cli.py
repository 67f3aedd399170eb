"""``cityloop eval detect``: AP@0.5 of an open-vocabulary detector on YOLO-format labelled images."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cityloop.eval_cli import eval_subparsers
from cityloop.settings import Settings

BACKENDS = ("owlv2", "hf-groundingdino", "groundingdino")
RANDOM_WEIGHTS_NOTE = (
    "NOTE: --tiny runs a tiny model with RANDOM weights: the AP figures below are "
    "meaningless; they only show that the evaluation runs end to end."
)


def add_parsers(sub: Any) -> None:
    """Register ``eval detect`` on the ``cityloop`` command's subparsers."""
    detect = eval_subparsers(sub).add_parser(
        "detect", help="AP@0.5 (VOC all-point) of a detector on YOLO-format labelled images"
    )
    detect.add_argument("--images", required=True, help="folder of images")
    detect.add_argument(
        "--labels", required=True, help="folder of YOLO label files (same stems as the images)"
    )
    detect.add_argument(
        "--classes", help="YOLO data.yaml with 'names' (default: data.yaml beside the folders)"
    )
    detect.add_argument("--backend", choices=BACKENDS, default="owlv2")
    detect.add_argument(
        "--tiny",
        action="store_true",
        help="a tiny random-weight model instead of real weights (meaningless accuracy)",
    )
    detect.add_argument(
        "--prompt",
        action="append",
        default=[],
        metavar="CLASS=TEXT",
        help="detector text for a class (default: the class name in lower case)",
    )
    detect.add_argument("--threshold", type=float, default=0.05, help="score threshold (default 0.05)")
    detect.add_argument("--batch-size", type=int, default=4)
    detect.add_argument("--limit", type=int, help="evaluate the first N images only")
    detect.add_argument(
        "--models-dir", help="models directory (default $CITYLOOP_MODELS_DIR or ~/.cache/cityloop/models)"
    )
    detect.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    detect.set_defaults(handler=cmd_eval_detect)


def _fail(message: str, code: int = 2) -> int:
    print(f"cityloop eval detect: {message}", file=sys.stderr)
    return code


@contextlib.contextmanager
def _detector(args: argparse.Namespace) -> Iterator[Any]:
    from cityloop.models_cli import models_dir
    from perception import testing, weights

    if not args.tiny:
        root = Path(args.models_dir).expanduser() if args.models_dir else models_dir()
        yield weights.load_detector(
            weights.DETECTOR_BACKENDS[args.backend], root, device=args.device, batch_size=args.batch_size
        )
        return
    builders = {
        "owlv2": testing.build_tiny_owlv2,
        "hf-groundingdino": testing.build_tiny_hf_groundingdino,
        "groundingdino": testing.build_tiny_official_groundingdino,
    }
    with tempfile.TemporaryDirectory(prefix="cityloop-tiny-") as folder:
        yield builders[args.backend](Path(folder), batch_size=args.batch_size)


def _prompts(args: argparse.Namespace, class_names: list[str]) -> list[Any]:
    from perception.detectors.base import Prompt

    texts = {name: name.lower().replace("_", " ") for name in class_names}
    for item in args.prompt:
        name, sep, text = item.partition("=")
        if not sep or name not in texts or not text.strip():
            raise ValueError(f"--prompt {item!r}: expected CLASS=TEXT with CLASS one of {class_names}")
        texts[name] = text.strip()
    return [Prompt(name, texts[name], args.threshold) for name in class_names]


def cmd_eval_detect(args: argparse.Namespace, _: Settings) -> int:
    import numpy as np
    from PIL import Image

    from perception import evaluation as ev
    from perception.detectors.base import WeightsMissing

    images_dir, labels_dir = Path(args.images), Path(args.labels)
    classes = Path(args.classes) if args.classes else images_dir.parent / "data.yaml"
    if not 0.0 <= args.threshold <= 1.0:
        return _fail(f"--threshold: {args.threshold} is outside 0..1")
    if args.batch_size < 1 or (args.limit is not None and args.limit < 1):
        return _fail("--batch-size and --limit must be 1 or more")
    if not labels_dir.is_dir():
        return _fail(f"--labels: {labels_dir} is not a directory")
    try:
        class_names = ev.read_class_names(classes)
        prompts = _prompts(args, class_names)
        images = list(ev.iter_images(images_dir))[: args.limit]
    except ValueError as exc:
        return _fail(str(exc))
    if not images:
        return _fail(f"--images: no images ({', '.join(ev.IMAGE_SUFFIXES)}) in {images_dir}")
    if args.tiny:
        print(RANDOM_WEIGHTS_NOTE)
    try:
        with _detector(args) as detector:
            samples, predictions = [], []
            for start in range(0, len(images), args.batch_size):
                frames = [
                    np.asarray(Image.open(p).convert("RGB")) for p in images[start : start + args.batch_size]
                ]
                predictions += detector.detect(frames, prompts)
                samples += [
                    ev.load_sample(p, labels_dir, (f.shape[1], f.shape[0]), len(class_names))
                    for p, f in zip(images[start : start + args.batch_size], frames, strict=True)
                ]
    except WeightsMissing as exc:
        return _fail(f"{exc}\n  (or run with --tiny to check the evaluation end to end on random weights)", 1)
    except ev.LabelError as exc:
        return _fail(str(exc))
    report = ev.evaluate(samples, predictions, class_names)
    print(
        f"{detector.name} on {len(samples)} images from {images_dir} (prompts: "
        + ", ".join(f"{p.category}={p.text!r}" for p in prompts)
        + ")"
    )
    print(ev.format_report(report))
    if args.tiny:
        print(RANDOM_WEIGHTS_NOTE)
    return 0

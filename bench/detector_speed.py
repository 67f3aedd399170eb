"""Images per second of the open-vocabulary detector backends at batch 1, 8 and 32.

    .venv/bin/python bench/detector_speed.py --tiny                       # quick CPU check
    .venv/bin/python bench/detector_speed.py --backend all --dtype bfloat16 --compile   # on a GPU

Real-size models (OWLv2-B/16 at 960×960, GroundingDINO-T through transformers at 800 px,
the official GroundingDINO-T through groundingdino-py) are built locally from their
configurations with random weights: speed does not depend on the weights' values, and
nothing is downloaded. ``--tiny`` uses the tiny test models instead. Each call is the whole
``Detector.detect`` on 1280×720 RGB frames (preprocessing, forward, post-processing, NMS).

The baseline is each backend at batch 1 in float32 without ``torch.compile``, measured in
the same run; the last line prints every configuration's ratio to it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from perception import testing  # noqa: E402
from perception.detectors.groundingdino_official import OfficialGroundingDino, build_official_model  # noqa: E402
from perception.detectors.hf_groundingdino import HFGroundingDino  # noqa: E402
from perception.detectors.hf_owlv2 import OwlDetector  # noqa: E402
from perception.detectors.runtime import resolve_device, resolve_dtype  # noqa: E402
from perception.types import Prompt  # noqa: E402

BACKENDS = ("owlv2", "hf-groundingdino", "groundingdino")
PROMPTS = [
    Prompt("fallen_tree", "a fallen tree", 0.3),
    Prompt("fallen_bicycle", "a bicycle lying on the ground", 0.3),
    Prompt("exposed_garbage", "a pile of garbage", 0.3),
    Prompt("pothole", "a pothole", 0.3),
]


def real_owlv2(folder: Path) -> Any:
    """OWLv2-B/16 (the ensemble checkpoint's architecture) with random weights."""
    from transformers import (
        CLIPTokenizer,
        Owlv2Config,
        Owlv2ForObjectDetection,
        Owlv2ImageProcessor,
        Owlv2Processor,
    )

    vocab = testing.clip_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], pad_token="!", model_max_length=16)
    config = Owlv2Config(
        text_config={"bos_token_id": vocab["<|startoftext|>"], "eos_token_id": 49407},
        vision_config={"image_size": 960, "patch_size": 16},
    )
    processor = Owlv2Processor(image_processor=Owlv2ImageProcessor(), tokenizer=tokenizer)
    return Owlv2ForObjectDetection(config), processor


def real_hf_groundingdino(folder: Path) -> Any:
    """GroundingDINO-T (Swin-T, BERT-base, 900 queries) with random weights."""
    from transformers import (
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
    )

    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(), tokenizer=testing.bert_tokenizer(folder)
    )
    return GroundingDinoForObjectDetection(GroundingDinoConfig()), processor


def real_official(folder: Path) -> Any:
    """The official GroundingDINO-T from its packaged config, with a random BERT-base saved locally."""
    import groundingdino.config
    from transformers import BertConfig, BertModel

    bert = folder / "bert"
    tokenizer = testing.bert_tokenizer(bert)
    BertModel(BertConfig()).save_pretrained(bert)
    tokenizer.save_pretrained(bert)
    return build_official_model(
        Path(groundingdino.config.__file__).parent / "GroundingDINO_SwinT_OGC.py", bert
    )


def build(backend: str, tiny: bool, folder: Path, device: torch.device, dtype: torch.dtype) -> Any:
    if tiny:
        builders: dict[str, Callable[..., Any]] = {
            "owlv2": testing.build_tiny_owlv2,
            "hf-groundingdino": testing.build_tiny_hf_groundingdino,
            "groundingdino": testing.build_tiny_official_groundingdino,
        }
        detector = builders[backend](folder)
        detector.model.to(device, dtype)
        detector.device, detector.dtype = device, dtype
        return detector
    if backend == "owlv2":
        model, processor = real_owlv2(folder)
        return OwlDetector(model.to(device, dtype), processor, batch_size=64)
    if backend == "hf-groundingdino":
        model, processor = real_hf_groundingdino(folder)
        return HFGroundingDino(model.to(device, dtype), processor, batch_size=64)
    return OfficialGroundingDino(real_official(folder).to(device, dtype), batch_size=64)


def images_per_s(detector: Any, batch: int, frames: list[np.ndarray], min_seconds: float) -> float:
    chunk = (frames * (batch // len(frames) + 1))[:batch]
    detector.batch_size = batch
    for _ in range(2):  # warm-up: compilation, allocator, lazy imports
        detector.detect(chunk, PROMPTS)
    calls, start = 0, time.perf_counter()
    while True:
        detector.detect(chunk, PROMPTS)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds or calls >= 50:
            return calls * batch / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=[*BACKENDS, "all"], default="all")
    parser.add_argument("--tiny", action="store_true", help="tiny random-weight test models (quick CPU run)")
    parser.add_argument("--batches", default="1,8,32", help="comma-separated batch sizes (default 1,8,32)")
    parser.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        action="append",
        help="dtypes to measure besides the float32 baseline (repeatable)",
    )
    parser.add_argument("--compile", action="store_true", help="also measure with torch.compile (CUDA)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum seconds per measurement")
    parser.add_argument("--size", default="1280x720", help="frame size WxH (default 1280x720)")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    width, height = (int(v) for v in args.size.lower().split("x"))
    device = resolve_device(args.device)
    dtypes = ["float32", *[d for d in (args.dtype or []) if d != "float32"]]
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(4)]
    backends = BACKENDS if args.backend == "all" else (args.backend,)
    print(
        f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
        f"{'tiny' if args.tiny else 'real-size'} random-weight models, {width}x{height} frames, "
        f"{len(PROMPTS)} prompts"
    )
    print(f"{'backend':<17} {'dtype':<9} {'compile':<8} {'batch':>5} {'images/s':>10} {'ratio':>7}")
    ratios: list[str] = []
    for backend in backends:
        baseline = None
        for dtype_name in dtypes:
            for compiled in [False, True] if args.compile else [False]:
                with tempfile.TemporaryDirectory(prefix="cityloop-bench-") as folder:
                    dtype = resolve_dtype(dtype_name, device)  # type: ignore[arg-type]
                    detector = build(backend, args.tiny, Path(folder), device, dtype)
                    if compiled:
                        detector.model = torch.compile(detector.model)
                    for batch in batches:
                        try:
                            speed = images_per_s(detector, batch, frames, args.seconds)
                        except Exception as exc:  # OOM or a compile failure is a result, not a crash
                            print(
                                f"{backend:<17} {dtype_name:<9} {compiled!s:<8} {batch:>5} failed: "
                                f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
                            )
                            if device.type == "cuda":
                                torch.cuda.empty_cache()
                            continue
                        baseline = baseline or speed
                        print(
                            f"{backend:<17} {dtype_name:<9} {compiled!s:<8} {batch:>5} {speed:>10.2f} "
                            f"{speed / baseline:>7.2f}",
                            flush=True,
                        )
                        ratios.append(
                            f"{backend}/{dtype_name}{'+compile' if compiled else ''}/b{batch}"
                            f"={speed / baseline:.2f}"
                        )
                    del detector
    print(
        "ratio images_per_s / images_per_s(batch 1, float32, eager) of the same backend: " + "; ".join(ratios)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

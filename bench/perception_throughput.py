"""Perception throughput against decode-only, measured in the same run on the same clips.

    python bench/perception_throughput.py [--seconds 30] [--busy-seconds 2] [--fps 25] [--video PATH]
                                          [--repeat 3] [--no-detector]

Clips: a static 720p street (textured, nothing moves) and a busy one (a dozen objects
moving all the time), both encoded here with PyAV/libx264 (CRF 23) into a temporary
folder; ``--video PATH`` adds a clip of your own. Every decoded frame is processed
(detection fps = the clip's frame rate), so the rates compare like with like.

Modes, each a full pass over the clip, best of ``--repeat`` interleaved passes:

(a) decode only, the baseline: ``FileSource`` (reader thread, luma plane, no conversion);
(b) decode + gating: (a) plus ``MotionGate.check`` on every frame;
(c) our own overhead: ``CameraPipeline`` with a detector that answers instantly with no
    boxes, so (c)/(a) is what gating, tracking and the pipeline cost, detector excluded;
(d) whole pipeline: ``CameraPipeline`` with the tiny random-weight OWLv2 from
    ``perception.testing`` (the real transformers code path, warmed up first), tracking and
    snapshots; the share of frames that reached the detector is printed with it;
(e) the detector alone on N frames, so "gating off" can be estimated as 1/(1/a + 1/e).

Random weights find random boxes, so (c) pays for tracking and snapshots of objects a real
model would not report; real models cost far more per call (see PERCEPTION-NOTES.md), which
makes the share of frames sent to the detector the number that carries over.
Wall-clock rates swing with whatever else runs on the machine; the ratio of CPU seconds
(all threads of this process) is printed beside them in brackets and is steadier.
Last line: ``ratio pipeline/decode static = X (detector excluded: X0, by CPU time X1); busy = ...;
detector share static = S; busy = B``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import av
import cv2
import numpy as np
import supervision as sv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from perception.config import CameraSpec  # noqa: E402
from perception.detectors.base import Detector  # noqa: E402
from perception.gate import MotionGate  # noqa: E402
from perception.pipeline import CameraPipeline  # noqa: E402
from perception.sources import FileSource  # noqa: E402
from perception.types import Prompt  # noqa: E402

T = TypeVar("T")
PROMPTS = [Prompt("exposed_garbage", "garbage", 0.5), Prompt("fallen_bicycle", "bicycle", 0.5)]


def _background(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 255, (height // 16, width // 16, 3), dtype=np.uint8)
    return (
        cv2.GaussianBlur(cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC), (0, 0), 4) // 2
        + 60
    ).astype(np.uint8)


def _static(base: np.ndarray, _i: int) -> np.ndarray:
    return base


def _busy(base: np.ndarray, i: int) -> np.ndarray:
    frame = base.copy()
    height, width = frame.shape[:2]
    for k in range(12):
        x = int((k * 197 + i * (4 + k)) % (width - 80))
        y = int((k * 53 + 40 * np.sin(i / 15 + k)) % (height - 80))
        colour = (235, 230, 220) if k % 2 else (20, 25, 30)  # light and dark cars, bins, bicycles
        cv2.rectangle(frame, (x, y), (x + 60 + 3 * k, y + 40 + 2 * k), colour, -1)
    return frame


def write_clip(path: Path, draw: Callable[[np.ndarray, int], np.ndarray], seconds: float, fps: int) -> Path:
    base = _background(1280, 720)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(draw(base, i), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _camera(path: Path) -> CameraSpec:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        fps = float(stream.average_rate or 25)
    return CameraSpec.model_validate(
        {
            "id": "bench",
            "name": "bench",
            "source": str(path),
            "location": {"lat": 0, "lon": 0},
            "detection_fps": min(60.0, fps),
            "recheck_interval_s": 60,
            "zones": [{"name": "all", "polygon": [[0, 0], [width, 0], [width, height], [0, height]]}],
        }
    )


def _frames(camera: CameraSpec) -> Iterator:
    return iter(FileSource(camera.source, fps=None, policy="block"))


def decode_only(camera: CameraSpec) -> int:
    count = 0
    for frame in _frames(camera):
        count += frame.gray.shape[0] > 0
    return count


def decode_and_gate(camera: CameraSpec) -> int:
    gate = MotionGate({z.name: z.polygon for z in camera.zones})
    count = 0
    for frame in _frames(camera):
        gate.check(frame.gray, frame.time_s)
        count += 1
    return count


class InstantDetector:
    """Answers at once with no boxes: isolates the pipeline's own cost from the model's."""

    name = "instant"

    def detect(self, frames: Sequence[np.ndarray], prompts: Sequence[Prompt]) -> list[sv.Detections]:
        return [sv.Detections.empty() for _ in frames]


def whole(camera: CameraSpec, detector: Detector) -> tuple[int, float, int]:
    pipeline = CameraPipeline(camera, detector, PROMPTS)
    events = sum(1 for _ in pipeline.run(FileSource(camera.source, fps=None, policy="block")))
    return pipeline.stats.frames_decoded, pipeline.stats.detector_share, events


def _timed(run: Callable[[], T]) -> tuple[float, float, T]:
    """Wall seconds, CPU seconds of this process (every thread), and the result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


@dataclass
class Result:
    overhead: float
    """(c)/(a), wall clock"""
    overhead_cpu: float
    """(a)/(c) in CPU seconds"""
    whole: float | None = None
    """(d)/(a)"""
    share: float | None = None


def measure(name: str, path: Path, detector: Detector | None, repeat: int, detector_frames: int) -> Result:
    camera = _camera(path)
    decode_only(camera)  # warm the page cache and the decoder, untimed
    modes: dict[str, Callable[[], object]] = {
        "a": lambda: decode_only(camera),
        "b": lambda: decode_and_gate(camera),
        "c": lambda: whole(camera, InstantDetector()),
    }
    if detector is not None:
        rgb = next(iter(FileSource(camera.source, fps=None, policy="block"))).rgb()
        detector.detect([rgb], PROMPTS)  # warm-up, untimed
        modes["d"] = lambda: whole(camera, detector)
    wall = dict.fromkeys(modes, float("inf"))
    cpu = dict.fromkeys(modes, float("inf"))
    results: dict[str, object] = {}
    for _ in range(repeat):  # interleaved, so a burst of load on the machine hits every mode alike
        for mode, run in modes.items():
            seconds, cpu_seconds, results[mode] = _timed(run)
            wall[mode], cpu[mode] = min(wall[mode], seconds), min(cpu[mode], cpu_seconds)
    n = int(results["a"])  # type: ignore[call-overload]
    share_c = results["c"][1]  # type: ignore[index]
    decode_fps, gate_fps, overhead_fps = n / wall["a"], n / wall["b"], n / wall["c"]
    cpu_ratio = {mode: cpu["a"] / cpu[mode] for mode in modes}
    print(f"{name}: {n} frames of {path.name}   (wall clock; in brackets: the ratio of CPU time)")
    print(f"  (a) decode only                {decode_fps:8.1f} frames/s   1.00x")
    print(
        f"  (b) decode + gating            {gate_fps:8.1f} frames/s   {gate_fps / decode_fps:.2f}x "
        f"[{cpu_ratio['b']:.2f}x]"
    )
    print(
        f"  (c) pipeline, instant detector {overhead_fps:8.1f} frames/s   {overhead_fps / decode_fps:.2f}x "
        f"[{cpu_ratio['c']:.2f}x]   {share_c:.1%} of frames to the detector"
    )
    result = Result(overhead_fps / decode_fps, cpu_ratio["c"], share=share_c)
    if detector is None:
        print("  (d) whole pipeline             skipped (--no-detector, or no tiny detector available)")
        return result
    frames, share, events = results["d"]  # type: ignore[misc]
    whole_fps = frames / wall["d"]
    print(
        f"  (d) pipeline, tiny OWLv2       {whole_fps:8.1f} frames/s   {whole_fps / decode_fps:.2f}x "
        f"[{cpu_ratio['d']:.2f}x]   {share:.1%} of frames to the detector, {events} events"
    )
    started = time.perf_counter()
    for _ in range(detector_frames):
        detector.detect([rgb], PROMPTS)
    per_call = (time.perf_counter() - started) / detector_frames
    ungated = 1 / (1 / decode_fps + per_call)
    print(
        f"  (e) tiny OWLv2 alone           {1 / per_call:8.1f} frames/s   -> gating off ~{ungated:.1f} "
        f"frames/s ({ungated / decode_fps:.2f}x)"
    )
    result.whole, result.share = whole_fps / decode_fps, share
    return result


def build_detector(folder: Path) -> Detector | None:
    try:
        from perception.testing import build_tiny_owlv2
    except ImportError as exc:
        print(f"no tiny detector available ({exc}); the whole-pipeline mode is skipped")
        return None
    return build_tiny_owlv2(folder / "owl")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the static clip")
    parser.add_argument(
        "--busy-seconds",
        type=float,
        default=2.0,
        help="length of the busy clip (the tiny detector runs on most of its frames)",
    )
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--video", type=Path, action="append", default=[], help="also measure this clip")
    parser.add_argument("--repeat", type=int, default=3, help="passes of (a)-(d); the best counts")
    parser.add_argument("--detector-frames", type=int, default=5)
    parser.add_argument("--no-detector", action="store_true", help="skip (d) and (e)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cityloop-bench-") as tmp:
        folder = Path(tmp)
        print(
            f"writing 720p clips at {args.fps} fps into {folder}: static {args.seconds:g} s, "
            f"busy {args.busy_seconds:g} s ..."
        )
        clips = {
            "static": write_clip(folder / "static.mp4", _static, args.seconds, args.fps),
            "busy": write_clip(folder / "busy.mp4", _busy, args.busy_seconds, args.fps),
        }
        clips.update({f"video {i + 1}": path for i, path in enumerate(args.video)})
        detector = None if args.no_detector else build_detector(folder)
        results = {
            name: measure(name, path, detector, args.repeat, args.detector_frames)
            for name, path in clips.items()
        }
    static, busy = results["static"], results["busy"]

    def ratio(result: Result) -> str:
        whole = "n/a" if result.whole is None else f"{result.whole:.2f}"
        return f"{whole} (detector excluded: {result.overhead:.2f}, by CPU time {result.overhead_cpu:.2f})"

    print(
        f"ratio pipeline/decode static = {ratio(static)}; busy = {ratio(busy)}; "
        f"detector share static = {static.share:.3f}; busy = {busy.share:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

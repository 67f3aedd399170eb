"""Decoding: PyAV containers and image files into ``Frame`` objects, sampled by timestamp.

Gating needs only the luma plane, so a ``Frame`` carries PyAV's Y plane as it comes out of
the decoder (no colour conversion) and converts to RGB only when asked (the frames that go
to the detector). Everything that can go wrong with the input — a missing or truncated
file, bytes that are not video, a codec with no decoder, an image that would decompress to
gigapixels — becomes ``SourceError`` naming the source and the reason.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from perception.types import redact

DEFAULT_MAX_PIXELS = 8192 * 8192
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
_PLANAR_YUV = {
    "yuv420p",
    "yuvj420p",
    "yuv422p",
    "yuvj422p",
    "yuv444p",
    "yuvj444p",
    "nv12",
    "nv21",
    "yuv420p10le",
    "gray",
}


class SourceError(RuntimeError):
    """The source cannot be read; ``source`` says which (credentials redacted), ``reason`` why."""

    def __init__(self, source: str, reason: str) -> None:
        self.source, self.reason = redact(str(source)), reason
        super().__init__(f"{self.source}: {reason}")


class Frame:
    """One sampled frame: its position, its time, the luma plane, and RGB on demand."""

    __slots__ = ("index", "time_s", "gray", "_to_rgb", "_rgb")

    def __init__(self, index: int, time_s: float, gray: np.ndarray, to_rgb: Callable[[], np.ndarray]) -> None:
        self.index, self.time_s, self.gray = index, time_s, gray
        self._to_rgb: Callable[[], np.ndarray] | None = to_rgb
        self._rgb: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.gray.shape[1]), int(self.gray.shape[0])

    def rgb(self) -> np.ndarray:
        """The frame as ``uint8`` HxWx3 RGB (converted once, on first use)."""
        if self._rgb is None:
            assert self._to_rgb is not None
            self._rgb, self._to_rgb = self._to_rgb(), None
        return self._rgb


def luma(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane of a decoded frame as an HxW ``uint8`` view (no conversion for planar YUV)."""
    if frame.format.name in _PLANAR_YUV and not frame.format.name.endswith("10le"):
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
        return rows[: frame.height, : frame.width]
    return frame.to_ndarray(format="gray")


class Sampler:
    """Keeps one frame per ``1/fps`` seconds of media time (every frame when ``fps`` is None)."""

    def __init__(self, fps: float | None) -> None:
        self.interval = 0.0 if fps is None else 1.0 / fps
        self.next_due: float | None = None

    def take(self, time_s: float) -> bool:
        if self.next_due is not None and time_s + 1e-6 < self.next_due:
            return False
        due = time_s if self.next_due is None else self.next_due
        self.next_due = max(due + self.interval, time_s) if self.interval else time_s
        return True


def open_container(source: str, *, timeout_s: float | None = None) -> av.container.InputContainer:
    options = {"rtsp_transport": "tcp"} if source.lower().startswith(("rtsp://", "rtsps://")) else {}
    try:
        return av.open(source, mode="r", options=options, timeout=timeout_s)
    except FileNotFoundError as exc:
        raise SourceError(source, "no such file") from exc
    except (av.FFmpegError, OSError) as exc:
        raise SourceError(source, f"cannot open: {_why(exc)}") from exc


def _why(exc: BaseException) -> str:
    if isinstance(exc, av.FFmpegError):
        text = getattr(exc, "strerror", None) or str(exc)
        return f"{text} (not a readable video, or truncated)" if "Invalid data" in text else text
    return str(exc) or type(exc).__name__


def video_stream(container: av.container.InputContainer, source: str, max_pixels: int) -> av.VideoStream:
    """The first video stream, checked: a decoder exists and the frame size is within the limit."""
    if not container.streams.video:
        raise SourceError(source, "no video stream in the file")
    stream = container.streams.video[0]
    codec = stream.codec_context
    if codec is None or not _has_decoder(codec.name):
        name = codec.name if codec is not None else "unknown"
        raise SourceError(source, f"unsupported codec {name!r}: no decoder available for its video stream")
    width, height = int(codec.width or 0), int(codec.height or 0)
    if width * height > max_pixels:
        raise SourceError(source, f"frame size {width}x{height} is above the limit of {max_pixels} pixels")
    stream.thread_type = "AUTO"
    return stream


def _has_decoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "r")
    except (av.codec.codec.UnknownCodecError, ValueError):
        return False
    return True


def decode_video(
    source: str,
    *,
    fps: float | None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout_s: float | None = None,
    start_index: int = 0,
    clock: Callable[[av.VideoFrame, int], float] | None = None,
) -> Iterator[Frame]:
    """Decode ``source`` (a path or URL), keeping one frame per ``1/fps`` s of presentation time.

    ``clock`` overrides a frame's time (live streams use wall time so it keeps growing across
    reconnects); by default it is the frame's pts in seconds.
    """
    container = open_container(source, timeout_s=timeout_s)
    try:
        stream = video_stream(container, source, max_pixels)
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        sampler = Sampler(fps)
        index = start_index
        for frame in container.decode(stream):
            time_s = (
                clock(frame, index) if clock else (frame.time if frame.time is not None else index / rate)
            )
            if sampler.take(time_s):
                yield Frame(index, time_s, luma(frame), _rgb_of(frame))
            index += 1
        if index == start_index:
            raise SourceError(source, "no frame could be decoded (truncated or corrupt)")
    except av.FFmpegError as exc:
        raise SourceError(source, f"decoding failed: {_why(exc)}") from exc
    finally:
        container.close()


def _rgb_of(frame: av.VideoFrame) -> Callable[[], np.ndarray]:
    return lambda: frame.to_ndarray(format="rgb24")


def image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise SourceError(str(folder), "not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise SourceError(str(folder), f"no images ({', '.join(IMAGE_SUFFIXES)}) in the folder")
    return files


def read_image(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """One image as RGB, refusing anything whose header promises more than ``max_pixels``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise SourceError(
                        str(path),
                        f"image is {width}x{height}, above the limit of "
                        f"{max_pixels} pixels (decompression bomb?)",
                    )
                return np.asarray(image.convert("RGB"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SourceError(str(path), f"decompression bomb refused: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise SourceError(str(path), f"not a readable image: {exc}") from exc


def read_images(folder: Path, *, fps: float, max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[Frame]:
    """The folder's images in name order, one frame every ``1/fps`` seconds; all the same size."""
    first_size: tuple[int, int] | None = None
    for index, path in enumerate(image_files(folder)):
        rgb = read_image(path, max_pixels=max_pixels)
        size = (rgb.shape[1], rgb.shape[0])
        if first_size is None:
            first_size = size
        elif size != first_size:
            raise SourceError(
                str(path),
                f"image is {size[0]}x{size[1]} but the folder's first is {first_size[0]}x{first_size[1]}",
            )
        yield Frame(index, index / fps, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), _const(rgb))


def _const(rgb: np.ndarray) -> Callable[[], np.ndarray]:
    return lambda: rgb

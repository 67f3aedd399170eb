"""Decoding real files: sampling by timestamp, the luma plane, and every kind of bad input."""

from __future__ import annotations

import struct
import wave
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from perception.decode import Frame, SourceError, decode_video, read_image, read_images
from perception.types import redact
from tests.helpers.synthetic import scene, write_video


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.mp4", scene(30, 160, 120), fps=10)


def test_every_frame_with_luma_plane_and_rgb(clip: Path) -> None:
    frames = list(decode_video(str(clip), fps=None))
    assert [f.index for f in frames] == list(range(30))
    first = frames[0]
    assert first.size == (160, 120) and first.gray.dtype == np.uint8
    rgb = first.rgb()
    assert rgb.shape == (120, 160, 3)
    # the luma plane is the brightness of the RGB image (BT.601, limited range: within a few levels)
    expected = rgb @ np.asarray([0.257, 0.504, 0.098]) + 16
    assert np.abs(first.gray.astype(float) - expected).mean() < 3


def test_samples_by_presentation_time(clip: Path) -> None:
    frames = list(decode_video(str(clip), fps=2.5))
    assert [f.index for f in frames] == [0, 4, 8, 12, 16, 20, 24, 28]
    assert frames[1].time_s == pytest.approx(0.4)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        list(decode_video(str(tmp_path / "nope.mp4"), fps=None))


def test_corrupt_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceError, match="noise.mp4: cannot open"):
        list(decode_video(str(path), fps=None))


def test_truncated_file(clip: Path, tmp_path: Path) -> None:
    data = clip.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 3])  # an mp4 cut short: the index (moov) is gone or broken
    with pytest.raises(SourceError, match="cut.mp4"):
        list(decode_video(str(path), fps=None))


def test_unsupported_codec(tmp_path: Path) -> None:
    good = write_video(tmp_path / "good.avi", scene(5, 64, 48), fps=5, codec="mjpeg")
    data = good.read_bytes()
    assert data.count(b"MJPG") >= 1
    bad = tmp_path / "bad.avi"
    bad.write_bytes(data.replace(b"MJPG", b"QQQQ"))  # a FourCC no decoder knows
    assert len(list(decode_video(str(good), fps=None))) == 5
    with pytest.raises(SourceError, match="unsupported codec"):
        list(decode_video(str(bad), fps=None))


def test_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "sound.wav"
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x00\x00" * 8000)
    with pytest.raises(SourceError, match="sound.wav: no video stream"):
        list(decode_video(str(path), fps=None))


def test_frame_size_limit(clip: Path) -> None:
    with pytest.raises(SourceError, match="160x120 is above the limit of 1000 pixels"):
        list(decode_video(str(clip), fps=None, max_pixels=1000))


def _png_claiming(width: int, height: int) -> bytes:
    """A small real PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_decompression_bomb_image_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_claiming(9000, 9000))  # above our limit, below Pillow's own
    with pytest.raises(
        SourceError, match=r"bomb.png: image is 9000x9000, above the limit of 67108864 pixels"
    ):
        read_image(bomb)
    # Pillow's guard (MAX_IMAGE_PIXELS) also becomes SourceError, never a warning, an allocation or a hang
    huge = tmp_path / "huge.png"
    huge.write_bytes(_png_claiming(100_000, 100_000))
    with pytest.raises(SourceError, match="huge.png: decompression bomb refused"):
        read_image(huge, max_pixels=10**12)


def test_image_folder(tmp_path: Path) -> None:
    for i, frame in enumerate(scene(3, 40, 30)):
        Image.fromarray(frame).save(tmp_path / f"{i:03d}.png")
    (tmp_path / "readme.txt").write_text("not an image")
    frames: list[Frame] = list(read_images(tmp_path, fps=2))
    assert [f.time_s for f in frames] == [0.0, 0.5, 1.0]
    assert frames[2].rgb().shape == (30, 40, 3)
    Image.new("RGB", (10, 10)).save(tmp_path / "999.png")
    with pytest.raises(SourceError, match="999.png: image is 10x10 but the folder's first is 40x30"):
        list(read_images(tmp_path, fps=2))
    (tmp_path / "500.jpg").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(SourceError, match="500.jpg: not a readable image"):
        list(read_images(tmp_path, fps=2))


def test_credentials_never_in_messages() -> None:
    assert redact("rtsp://admin:hunter2@10.0.0.5/stream") == "rtsp://***@10.0.0.5/stream"
    assert "hunter2" not in str(SourceError("rtsp://admin:hunter2@cam/x", "refused"))

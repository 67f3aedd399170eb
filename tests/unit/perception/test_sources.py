"""Sources: the reader thread, the bounded queue that drops, stream reconnection and health."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from perception.config import CameraSpec
from perception.decode import SourceError
from perception.sources import (
    FileSource,
    ImageFolderSource,
    SourceState,
    StreamOptions,
    StreamSource,
    open_source,
)
from tests.helpers.synthetic import scene, write_video


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _camera(source: str) -> CameraSpec:
    return CameraSpec.model_validate(
        {
            "id": "cam-1",
            "name": "Main St",
            "source": source,
            "location": {"lat": 1, "lon": 2},
            "detection_fps": 5,
            "zones": [{"name": "street", "polygon": [[0, 0], [10, 0], [10, 10]]}],
        }
    )


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.mp4", scene(40, 160, 120), fps=10)


def test_file_source_blocking_delivers_every_sampled_frame(clip: Path) -> None:
    source = FileSource(str(clip), fps=None, queue_size=2, policy="block")
    frames = []
    for frame in source:
        time.sleep(0.002)  # a slow consumer
        frames.append(frame.index)
    assert frames == list(range(40))
    health = source.health()
    assert health.state is SourceState.FINISHED and health.frames_read == 40 and health.frames_dropped == 0
    assert not source.alive


def test_dropping_policy_never_blocks_the_reader(clip: Path) -> None:
    source = FileSource(str(clip), fps=None, queue_size=2, policy="drop").start()
    deadline = time.monotonic() + 10
    while source.health().state is not SourceState.FINISHED and time.monotonic() < deadline:
        time.sleep(0.01)  # nobody reads: the reader must finish anyway, dropping the oldest frames
    health = source.health()
    assert health.state is SourceState.FINISHED
    kept = [frame.index for frame in source]
    assert health.frames_read == 40
    assert health.frames_dropped == 40 - len(kept) > 0
    assert kept == sorted(kept) and kept[-1] == 39  # the newest frames are the ones kept


def test_reader_failure_reaches_the_consumer(tmp_path: Path) -> None:
    path = tmp_path / "junk.mp4"
    path.write_bytes(b"\x00\x01junk" * 1000)
    source = FileSource(str(path), fps=None)
    with pytest.raises(SourceError, match="junk.mp4"):
        list(source)
    assert source.health().state is SourceState.FAILED and not source.alive


def test_image_folder_source(tmp_path: Path) -> None:
    from PIL import Image

    for i, frame in enumerate(scene(4, 32, 24)):
        Image.fromarray(frame).save(tmp_path / f"{i}.jpg")
    source = open_source(_camera(str(tmp_path)), policy="block")
    assert isinstance(source, ImageFolderSource)
    assert [f.time_s for f in source] == pytest.approx([0.0, 0.2, 0.4, 0.6])


def test_refused_stream_reconnects_with_backoff_then_fails() -> None:
    url = f"http://127.0.0.1:{_free_port()}/live.ts"
    source = StreamSource(url, fps=5, timeout_s=2, backoff_s=0.05, max_backoff_s=0.2, max_attempts=4)
    started = time.monotonic()
    with pytest.raises(SourceError, match="gave up after 4 failed attempts") as error:
        list(source)
    assert "refused" in error.value.reason.lower()
    # three waits of 0.05, 0.1, 0.2 s between the four attempts
    assert time.monotonic() - started >= 0.35
    health = source.health()
    assert health.state is SourceState.FAILED and health.reconnects == 3 and not source.alive


def test_stream_health_while_reconnecting_and_clean_stop() -> None:
    url = f"rtsp://user:secret@127.0.0.1:{_free_port()}/cam"
    source = open_source(_camera(url), stream=StreamOptions(timeout_s=2, backoff_s=0.05, max_backoff_s=0.1))
    assert isinstance(source, StreamSource)
    source.start()
    deadline = time.monotonic() + 10
    while source.health().reconnects < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    health = source.health()
    assert health.state in (SourceState.RECONNECTING, SourceState.CONNECTING)
    assert health.reconnects >= 3 and health.last_error
    assert "secret" not in health.source and "secret" not in health.last_error
    assert source.alive  # still trying: max_attempts=None never gives up
    source.stop()
    assert not source.alive
    assert source.health().state in (SourceState.STOPPED, SourceState.FINISHED)


def test_stream_that_ends_is_reopened_and_counts_continue(clip: Path) -> None:
    # a source that delivers 40 frames then ends stands in for a camera that drops the connection
    source = StreamSource(str(clip), fps=None, policy="block", backoff_s=0.01, max_backoff_s=0.01)
    indices = []
    for frame in source:
        indices.append(frame.index)
        if len(indices) == 100:
            break
    health = source.health()
    source.stop()
    assert indices == list(range(100))  # frame numbers keep growing across the reconnects
    assert health.reconnects == 2 and health.last_error == "the stream ended"
    assert health.state is SourceState.RUNNING
    assert not source.alive

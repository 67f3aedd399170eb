"""Frame sources: a reader thread decodes into a bounded queue; the pipeline iterates.

A live stream never waits for the pipeline: when the queue is full the oldest frame is
dropped and counted (``policy="drop"``). ``open_source`` reads files and folders with
``policy="block"`` unless told otherwise: nothing is live there, so waiting loses nothing and
every sampled frame is seen (replays and evaluations give the same events every time).
Streams reconnect with exponential backoff and report their state for a health endpoint.
The reader thread never dies silently: whatever goes wrong reaches the iterating side as
``SourceError``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from perception.config import CameraSpec
from perception.decode import DEFAULT_MAX_PIXELS, Frame, SourceError, decode_video, read_images, redact

Policy = Literal["drop", "block"]


class SourceState(StrEnum):
    CONNECTING = "connecting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    FINISHED = "finished"
    STOPPED = "stopped"


@dataclass(frozen=True)
class SourceHealth:
    source: str
    state: SourceState
    last_error: str | None
    frames_read: int
    frames_dropped: int
    reconnects: int
    next_retry_in_s: float | None


class _End:
    pass


@dataclass(frozen=True)
class _Failure:
    error: SourceError


class FrameSource:
    """Base: owns the reader thread, the queue, the counters and the state."""

    def __init__(
        self,
        source: str,
        *,
        fps: float | None,
        queue_size: int = 8,
        policy: Policy = "drop",
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.source, self.fps, self.policy, self.max_pixels = source, fps, policy, max_pixels
        self._queue: queue.Queue[Frame | _End | _Failure] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._state = SourceState.CONNECTING
        self._last_error: str | None = None
        self._read = self._dropped = self._reconnects = 0
        self._retry_at: float | None = None

    # -- the reader side -------------------------------------------------------------------
    def _produce(self) -> Iterator[Frame]:
        raise NotImplementedError

    def _run(self) -> None:
        try:
            for frame in self._produce():
                self._set(state=SourceState.RUNNING)
                with self._lock:
                    self._read += 1
                self._offer(frame)
                if self._stop.is_set():
                    break
            self._set(state=SourceState.STOPPED if self._stop.is_set() else SourceState.FINISHED)
            self._put_final(_End())
        except SourceError as exc:
            self._set(state=SourceState.FAILED, last_error=exc.reason)
            self._put_final(_Failure(exc))
        except BaseException as exc:  # noqa: BLE001 - the thread must report, never die silently
            error = SourceError(self.source, f"reader failed: {type(exc).__name__}: {exc}")
            self._set(state=SourceState.FAILED, last_error=error.reason)
            self._put_final(_Failure(error))

    def _offer(self, frame: Frame) -> None:
        if self.policy == "block":
            self._put_final(frame)
            return
        while True:
            try:
                self._queue.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    with self._lock:
                        self._dropped += 1
                except queue.Empty:
                    pass

    def _put_final(self, item: Frame | _End | _Failure) -> None:
        while not self._stop.is_set():  # waits for the consumer (or stop)
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _set(
        self,
        *,
        state: SourceState | None = None,
        last_error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        with self._lock:
            if state is not None:
                self._state = state
            if last_error is not None:
                self._last_error = last_error
            self._retry_at = retry_at

    # -- the consuming side ----------------------------------------------------------------
    def start(self) -> FrameSource:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"source:{redact(self.source)}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        while True:  # unblock a reader waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __iter__(self) -> Iterator[Frame]:
        """Frames until the source ends, fails (``SourceError``) or ``stop()`` is called,
        from any thread: a caller with a deadline stops the source and the loop ends."""
        self.start()
        while True:
            if self._stop.is_set():
                return
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self._stop.is_set():
                    return
                if not self.alive and self._queue.empty():
                    raise SourceError(self.source, "reader thread ended without a result") from None
                continue
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def __enter__(self) -> FrameSource:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def frames_dropped(self) -> int:
        """Frames the reader dropped because the consumer fell behind (cheap: read per frame)."""
        return self._dropped

    def health(self) -> SourceHealth:
        with self._lock:
            retry = None if self._retry_at is None else max(0.0, self._retry_at - time.monotonic())
            return SourceHealth(
                redact(self.source),
                self._state,
                self._last_error,
                self._read,
                self._dropped,
                self._reconnects,
                retry,
            )


class FileSource(FrameSource):
    """A video file, decoded once from start to end."""

    def _produce(self) -> Iterator[Frame]:
        if not Path(self.source).is_file():
            raise SourceError(self.source, "no such file")
        return decode_video(self.source, fps=self.fps, max_pixels=self.max_pixels)


class ImageFolderSource(FrameSource):
    """A folder of images in name order, one frame per ``1/fps`` seconds."""

    def _produce(self) -> Iterator[Frame]:
        return read_images(Path(self.source), fps=self.fps or 1.0, max_pixels=self.max_pixels)


class StreamSource(FrameSource):
    """An RTSP/HTTP(S) stream: reconnects after every failure or end, waiting 1, 2, 4… s.

    ``max_attempts`` consecutive failed connections (None: never give up) end it in
    ``failed``; a connection that delivered a frame resets the count.
    """

    def __init__(
        self,
        source: str,
        *,
        fps: float | None,
        queue_size: int = 8,
        policy: Policy = "drop",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        timeout_s: float = 10.0,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        max_attempts: int | None = None,
    ) -> None:
        super().__init__(source, fps=fps, queue_size=queue_size, policy=policy, max_pixels=max_pixels)
        self.timeout_s, self.backoff_s, self.max_backoff_s = timeout_s, backoff_s, max_backoff_s
        self.max_attempts = max_attempts
        self._started = time.monotonic()

    def _produce(self) -> Iterator[Frame]:
        failures, index = 0, 0
        while not self._stop.is_set():
            self._set(state=SourceState.CONNECTING if failures == 0 else SourceState.RECONNECTING)
            try:
                for frame in decode_video(
                    self.source,
                    fps=self.fps,
                    max_pixels=self.max_pixels,
                    timeout_s=self.timeout_s,
                    start_index=index,
                    clock=lambda _f, _i: time.monotonic() - self._started,
                ):
                    failures, index = 0, frame.index + 1
                    yield frame
                    if self._stop.is_set():
                        return
                reason = "the stream ended"
            except SourceError as exc:
                reason = exc.reason
            if self._stop.is_set():
                return
            failures += 1
            if self.max_attempts is not None and failures >= self.max_attempts:
                raise SourceError(self.source, f"gave up after {failures} failed attempts: {reason}")
            delay = min(self.max_backoff_s, self.backoff_s * 2 ** (failures - 1))
            with self._lock:
                self._reconnects += 1
            self._set(state=SourceState.RECONNECTING, last_error=reason, retry_at=time.monotonic() + delay)
            self._stop.wait(delay)


@dataclass(frozen=True)
class StreamOptions:
    """Reconnection settings of a live source (see ``StreamSource``)."""

    timeout_s: float = 10.0
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    max_attempts: int | None = None


def open_source(
    camera: CameraSpec,
    *,
    policy: Policy | None = None,
    queue_size: int = 8,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    stream: StreamOptions | None = None,
) -> FrameSource:
    """The right source for ``camera.source``: a URL (drops by default), a folder or a file (block)."""
    if camera.is_stream:
        options = stream or StreamOptions()
        return StreamSource(
            camera.source,
            fps=camera.detection_fps,
            queue_size=queue_size,
            policy=policy or "drop",
            max_pixels=max_pixels,
            timeout_s=options.timeout_s,
            backoff_s=options.backoff_s,
            max_backoff_s=options.max_backoff_s,
            max_attempts=options.max_attempts,
        )
    policy = policy or "block"
    kind = ImageFolderSource if Path(camera.source).is_dir() else FileSource
    return kind(
        camera.source, fps=camera.detection_fps, queue_size=queue_size, policy=policy, max_pixels=max_pixels
    )

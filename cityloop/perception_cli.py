"""``cityloop ingest CLIP --camera ID`` and ``cityloop cameras run|list``: perception into the loop.

With no detector weights both say which file is missing and that perception is off, and
exit 3; nothing else in CityLoop depends on perception being on.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cityloop.settings import Settings

if TYPE_CHECKING:
    from perception.pipeline import Verifier

log = logging.getLogger(__name__)
PERCEPTION_OFF = 3
STATUS_EVERY_S = 5.0


def _city(settings: Settings) -> Any:
    from dispatch.cityconfig import load_city

    return load_city(settings.city_file)


def load_models(settings: Settings) -> tuple[Any, Verifier | None]:
    """The detector (``PerceptionOff`` when it cannot load) and the verifier (None when off)."""
    from dispatch.perception_flow import verify_prompts
    from perception.loading import PerceptionOff, build_detector, build_verifier

    detector = build_detector(settings.perception)
    try:
        verifier = build_verifier(settings.perception, verify_prompts(_city(settings)))
    except PerceptionOff as exc:
        print(f"CLIP verification is off: {exc}".replace("perception is off: ", ""), file=sys.stderr)
        verifier = None
    return detector, verifier


def _event_line(line: dict[str, Any]) -> str:
    scores = " ".join(f"{k}={v:.2f}" for k, v in line["scores"].items())
    stored = f"  event={line['event_id']}" if "event_id" in line else ""
    zone = line["zone"] or "-"
    return (f"{line['kind']:<6} track {line['track_id']:<4} {line['category']:<18} zone={zone:<10} "
            f"t={line['time_s']:>7.2f}s box={line['box']} {scores}{stored}")


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from dispatch.perception_flow import camera_for_clip, run_camera
    from perception.decode import SourceError
    from perception.loading import PerceptionOff
    from perception.pipeline import FrameMismatch

    clip = Path(args.clip)
    if not clip.exists():
        print(f"cityloop ingest: CLIP: no such file or folder: {clip}", file=sys.stderr)
        return 2
    city = _city(settings)
    try:
        camera = camera_for_clip(city, args.camera, clip)
    except ValueError as exc:
        print(f"cityloop ingest: --{exc}", file=sys.stderr)
        return 2
    try:
        detector, verifier = load_models(settings)
    except PerceptionOff as exc:
        print(f"cityloop ingest: {exc}", file=sys.stderr)
        return PERCEPTION_OFF
    factory, engine, enqueue = None, None, None
    if not args.dry_run:
        from cityloop.compose import MissingSetting, dispatch_config
        from dispatch.celery_app import configure
        from dispatch.db import make_engine, make_session_factory
        from dispatch.runtime import set_config
        from dispatch.tasks import enqueue_understand

        try:
            config = dispatch_config(settings)
        except MissingSetting as exc:
            print(f"cityloop ingest: {exc}; or use --dry-run to only print the events", file=sys.stderr)
            return 2
        set_config(config)
        configure(config)
        engine = make_engine(config.database_url, pool_size=1)
        factory, enqueue = make_session_factory(engine), (lambda event_id: enqueue_understand(event_id))
    bar = tqdm(unit="frame", desc=f"{camera.id}", disable=args.json or not sys.stderr.isatty(),
               file=sys.stderr)

    def progress(stats: Any) -> None:
        bar.n = stats.frames_decoded
        bar.set_postfix(to_detector=stats.frames_detected, events=sum(stats.events.values()), refresh=False)
        bar.refresh()

    def show(line: dict[str, Any]) -> None:
        text = json.dumps(line) if args.json else _event_line(line)
        bar.write(text, file=sys.stdout)

    try:
        report = run_camera(city=city, camera=camera, detector=detector, verifier=verifier, factory=factory,
                            enqueue=enqueue, max_image_bytes=settings.max_image_bytes, progress=progress,
                            on_event=show)
    except (SourceError, FrameMismatch) as exc:
        print(f"cityloop ingest: {exc}", file=sys.stderr)
        return 2
    finally:
        bar.close()
        if engine is not None:
            engine.dispose()
    summary = report.summary()
    if args.json:
        print(json.dumps({"summary": summary}))
    else:
        print(f"{summary['frames_decoded']} frames, {summary['frames_to_detector']} to the detector "
              f"({summary['detector_share']:.1%}), events: {summary['events'] or 'none'}; "
              + ("dry run, nothing stored" if args.dry_run else
                 f"{summary['events_created']} new events queued for understanding"))
    return 0


PIPELINE_PAUSE_S = 10.0


def _report_status(factory: Any, camera_id: str, worker: str, health: Any,
                   pipeline: tuple[float, str, int] | None = None) -> None:
    """Upsert the camera's row; ``pipeline`` is (monotonic time, message, restarts) of the
    pipeline's last failure: while it is recent the camera is "failed", whatever the source says."""
    from sqlalchemy.dialects.postgresql import insert
    from sqlalchemy.sql import func

    from dispatch.db import transaction
    from dispatch.perception_models import CameraStatus

    detail = {"frames_read": health.frames_read, "frames_dropped": health.frames_dropped,
              "reconnects": health.reconnects, "last_error": health.last_error,
              "next_retry_in_s": health.next_retry_in_s, "source": health.source}
    state = str(health.state)
    if pipeline is not None:
        failed_at, message, restarts = pipeline
        detail.update(pipeline_error=message, pipeline_restarts=restarts)
        if time.monotonic() - failed_at < 3 * PIPELINE_PAUSE_S:
            state = "failed"
    values = {"camera_id": camera_id, "worker": worker, "state": state, "detail": detail}
    with transaction(factory) as db:
        db.execute(insert(CameraStatus).values(**values).on_conflict_do_update(
            index_elements=["camera_id"], set_={**values, "updated_at": func.now()}))


def cmd_cameras_run(args: argparse.Namespace, settings: Settings) -> int:
    """Long-lived: one thread per camera; streams reconnect with backoff inside the source."""
    from cityloop.compose import MissingSetting, dispatch_config
    from dispatch.celery_app import configure
    from dispatch.db import make_engine, make_session_factory
    from dispatch.perception_flow import run_camera
    from dispatch.runtime import set_config
    from dispatch.tasks import enqueue_understand
    from perception.decode import redact
    from perception.loading import PerceptionOff
    from perception.sources import open_source

    city = _city(settings)
    cameras = [c for c in city.cameras if not args.camera or c.id in args.camera]
    unknown = sorted(set(args.camera or ()) - {c.id for c in city.cameras})
    if unknown or not cameras:
        print(f"cityloop cameras run: --camera: unknown or none configured: {', '.join(unknown) or '-'}",
              file=sys.stderr)
        return 2
    try:
        config = dispatch_config(settings)
        detector, verifier = load_models(settings)
    except MissingSetting as exc:
        print(f"cityloop cameras run: {exc}", file=sys.stderr)
        return 2
    except PerceptionOff as exc:
        print(f"cityloop cameras run: {exc}", file=sys.stderr)
        return PERCEPTION_OFF
    set_config(config)
    configure(config)
    engine = make_engine(config.database_url, pool_size=len(cameras) + 2)
    factory = make_session_factory(engine)
    worker = f"{socket.gethostname()}:{threading.get_native_id()}"
    lock = threading.Lock()  # one detector, shared: calls are serialised
    sources = {c.id: open_source(c, policy="drop") for c in cameras}
    failures: dict[str, tuple[float, str, int]] = {}  # the pipeline's last failure per camera

    class Locked:
        name = getattr(detector, "name", "detector")

        def detect(self, frames: Any, prompts: Any) -> Any:
            with lock:
                return detector.detect(frames, prompts)

    def watch(camera: Any) -> None:
        while True:  # the source reconnects; a pipeline error restarts the camera after a pause
            try:
                run_camera(city=city, camera=camera, detector=Locked(), verifier=verifier, factory=factory,
                           enqueue=enqueue_understand, max_image_bytes=settings.max_image_bytes,
                           source=sources[camera.id], on_event=lambda line: print(_event_line(line),
                                                                                  flush=True))
                if not camera.is_stream:
                    return
            except Exception as exc:  # keep the worker alive; the state says what happened
                log.exception("camera %s: pipeline failed; restarting in %.0f s", camera.id,
                              PIPELINE_PAUSE_S)
                restarts = failures.get(camera.id, (0.0, "", 0))[2] + 1
                failures[camera.id] = (time.monotonic(), redact(f"{type(exc).__name__}: {exc}")[:500],
                                       restarts)
                time.sleep(PIPELINE_PAUSE_S)
            sources[camera.id] = open_source(camera, policy="drop")

    threads = [threading.Thread(target=watch, args=(c,), name=f"camera-{c.id}", daemon=True) for c in cameras]
    for thread in threads:
        thread.start()
    print(f"watching {len(cameras)} camera(s): {', '.join(c.id for c in cameras)}", flush=True)
    try:
        while any(t.is_alive() for t in threads):
            for camera_id, source in list(sources.items()):
                try:
                    _report_status(factory, camera_id, worker, source.health(),
                                   failures.get(camera_id))
                except Exception as exc:  # the database may be briefly away; report next round
                    log.warning("camera %s: could not report status: %s", camera_id, exc)
            time.sleep(args.status_every)
    except KeyboardInterrupt:
        pass
    finally:
        for source in sources.values():
            source.stop()
        engine.dispose()
    return 0


def cmd_cameras_list(args: argparse.Namespace, settings: Settings) -> int:
    city = _city(settings)
    for camera in city.cameras:
        zones = ", ".join(z.name for z in camera.zones)
        print(f"{camera.id:<24} {camera.detection_fps:>4g} fps  zones: {zones}  ({camera.name})")
    if not city.cameras:
        print("no cameras configured in the city file")
    return 0


def add_parsers(sub: Any) -> None:
    ingest = sub.add_parser("ingest", help="run a recorded clip (or image folder) through perception")
    ingest.add_argument("clip", metavar="CLIP")
    ingest.add_argument("--camera", required=True, help="the camera (from the city file) it was recorded by")
    ingest.add_argument("--dry-run", action="store_true", help="print the events; store nothing")
    ingest.add_argument("--json", action="store_true", help="one JSON object per line")
    ingest.set_defaults(handler=cmd_ingest)
    cameras = sub.add_parser("cameras", help="live camera workers").add_subparsers(
        dest="cameras_command", required=True)
    run = cameras.add_parser("run", help="watch the configured cameras (long-lived)")
    run.add_argument("--camera", action="append", help="only this camera (repeatable)")
    run.add_argument("--status-every", type=float, default=STATUS_EVERY_S, help=argparse.SUPPRESS)
    run.set_defaults(handler=cmd_cameras_run)
    listing = cameras.add_parser("list", help="the configured cameras")
    listing.set_defaults(handler=cmd_cameras_list)

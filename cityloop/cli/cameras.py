"""``cityloop ingest CLIP --camera ID`` and ``cityloop cameras run|list``: perception into the loop.

With no detector weights both say which file is missing and that perception is off, and
exit 3; nothing else in CityLoop depends on perception being on.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cityloop.cli.context import CommandFailed, OrderedGroup, with_settings
from cityloop.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from dispatch.city.config import CityConfig
    from perception.detectors.base import Detector
    from perception.pipeline import Verifier

PERCEPTION_OFF = 3


def _city(settings: Settings) -> CityConfig:
    from dispatch.city.config import load_city

    return load_city(settings.city_file)


def load_models(settings: Settings) -> tuple[Detector, Verifier | None]:
    """The detector and the verifier (None when CLIP is off); exit 3 when the detector cannot load."""
    from dispatch.cameras.pipeline import verify_prompts
    from perception.loading import PerceptionOff, build_detector, build_verifier

    try:
        detector = build_detector(settings.perception)
    except PerceptionOff as exc:
        raise CommandFailed(str(exc), PERCEPTION_OFF) from None
    try:
        verifier = build_verifier(settings.perception, verify_prompts(_city(settings)))
    except PerceptionOff as exc:
        click.echo(f"CLIP verification is off: {exc}".replace("perception is off: ", ""), err=True)
        verifier = None
    return detector, verifier


def event_line(line: dict[str, Any]) -> str:
    """One event as a human reads it: kind, track, category, zone, time, box, scores."""
    scores = " ".join(f"{k}={v:.2f}" for k, v in line["scores"].items())
    stored = f"  event={line['event_id']}" if "event_id" in line else ""
    zone = line["zone"] or "-"
    return (f"{line['kind']:<6} track {line['track_id']:<4} {line['category']:<18} zone={zone:<10} "
            f"t={line['time_s']:>7.2f}s box={line['box']} {scores}{stored}")


@contextmanager
def _storage(settings: Settings, *, pool_size: int, hint: str = "") -> Iterator[sessionmaker[Session]]:
    """Sessions on the configured database, with the runtime and Celery configured to enqueue."""
    from cityloop.compose import MissingSetting, dispatch_config
    from dispatch.core.celery_app import configure
    from dispatch.core.db import make_engine, make_session_factory
    from dispatch.core.runtime import set_config

    try:
        config = dispatch_config(settings)
    except MissingSetting as exc:
        raise CommandFailed(f"{exc}{hint}") from None
    set_config(config)
    configure(config)
    engine = make_engine(config.database_url, pool_size=pool_size)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def _printer(as_json: bool, write: Callable[[str], None]) -> Callable[[dict[str, Any]], None]:
    return lambda line: write(json.dumps(line) if as_json else event_line(line))


def _summary_line(summary: dict[str, Any], dry_run: bool) -> str:
    return (f"{summary['frames_decoded']} frames, {summary['frames_to_detector']} to the detector "
            f"({summary['detector_share']:.1%}), events: {summary['events'] or 'none'}; "
            + ("dry run, nothing stored" if dry_run else
               f"{summary['events_created']} new events queued for understanding"))


@click.command()
@click.argument("clip", type=click.Path(path_type=Path), metavar="CLIP")
@click.option("--camera", required=True, help="The camera (from the city file) it was recorded by.")
@click.option("--dry-run", is_flag=True, help="Print the events; store nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_settings
def ingest(settings: Settings, clip: Path, camera: str, dry_run: bool, as_json: bool) -> int:
    """Run a recorded clip (or image folder) through perception."""
    from tqdm import tqdm

    from dispatch.cameras.pipeline import camera_for_clip, run_camera
    from dispatch.tasks import enqueue_understand
    from perception.decode import SourceError
    from perception.pipeline import FrameMismatch

    if not clip.exists():
        raise CommandFailed(f"CLIP: no such file or folder: {clip}")
    city = _city(settings)
    try:
        spec = camera_for_clip(city, camera, clip)
    except ValueError as exc:
        raise CommandFailed(f"--{exc}") from None
    detector, verifier = load_models(settings)
    storage: AbstractContextManager[sessionmaker[Session] | None] = (
        nullcontext(None) if dry_run else
        _storage(settings, pool_size=1, hint="; or use --dry-run to only print the events"))
    bar = tqdm(unit="frame", desc=spec.id, disable=as_json or not sys.stderr.isatty(), file=sys.stderr)

    def progress(stats: Any) -> None:
        bar.n = stats.frames_decoded
        bar.set_postfix(to_detector=stats.frames_detected, events=sum(stats.events.values()), refresh=False)
        bar.refresh()

    try:
        with storage as factory:
            report = run_camera(city=city, camera=spec, detector=detector, verifier=verifier, factory=factory,
                                enqueue=enqueue_understand if factory is not None else None,
                                max_image_bytes=settings.max_image_bytes, progress=progress,
                                on_event=_printer(as_json, lambda text: bar.write(text, file=sys.stdout)))
    except (SourceError, FrameMismatch) as exc:
        raise CommandFailed(str(exc)) from None
    finally:
        bar.close()
    summary = report.summary()
    click.echo(json.dumps({"summary": summary}) if as_json else _summary_line(summary, dry_run))
    return 0


@click.group(cls=OrderedGroup)
def cameras() -> None:
    """The configured cameras and their live workers."""


@cameras.command("run")
@click.option("--camera", "only", multiple=True, help="Only this camera (repeatable).")
@click.option("--status-every", type=float, default=5.0, hidden=True)
@with_settings
def run(settings: Settings, only: tuple[str, ...], status_every: float) -> int:
    """Watch the configured cameras (long-lived; streams reconnect).

    Each camera's state (frames, reconnects, the last error) shows in /health and /api/cameras.
    """
    from dispatch.cameras.live import CameraWorkers
    from dispatch.tasks import enqueue_understand

    city = _city(settings)
    watched = [c for c in city.cameras if not only or c.id in only]
    unknown = sorted(set(only) - {c.id for c in city.cameras})
    if unknown or not watched:
        raise CommandFailed(f"--camera: unknown or none configured: {', '.join(unknown) or '-'}")
    with _storage(settings, pool_size=len(watched) + 2) as factory:
        detector, verifier = load_models(settings)
        workers = CameraWorkers(city=city, cameras=watched, detector=detector, verifier=verifier,
                                factory=factory, enqueue=enqueue_understand,
                                max_image_bytes=settings.max_image_bytes,
                                on_event=_printer(False, lambda text: click.echo(text)),
                                status_every_s=status_every)
        click.echo(f"watching {len(watched)} camera(s): {', '.join(c.id for c in watched)}")
        workers.run()
    return 0


@cameras.command("list")
@with_settings
def list_cameras(settings: Settings) -> int:
    """The cameras configured in the city file."""
    city = _city(settings)
    for camera in city.cameras:
        zones = ", ".join(z.name for z in camera.zones)
        click.echo(f"{camera.id:<24} {camera.detection_fps:>4g} fps  zones: {zones}  ({camera.name})")
    if not city.cameras:
        click.echo("no cameras configured in the city file")
    return 0

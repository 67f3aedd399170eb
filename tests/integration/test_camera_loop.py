"""Camera tracks into the loop: intake, tickets, clip uploads, the CLI, health, re-checks.

The detector here is ``FakeColourDetector`` (finds dark and white blobs) where a test needs
known boxes, and the tiny random-weight OWLv2 where it needs the real model path; the
database, the flows, the API and the CLI are the real ones.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from api.app import create_app
from api.config import ApiConfig
from cityloop.settings import SAMPLE_CITY
from dispatch.cameras.models import CameraStatus, ClipJob
from dispatch.cameras.pipeline import camera_for_clip, run_camera
from dispatch.cameras.recheck import RecheckUnavailable
from dispatch.cameras.recheck_runner import PerceptionRecheckRunner
from dispatch.city.config import load_city
from dispatch.core.db import transaction
from dispatch.core.runtime import get_runtime
from dispatch.incidents import flows as incident_flows
from dispatch.intake.models import Event
from dispatch.tickets import flows as ticket_flows
from dispatch.tickets.models import Ticket
from perception.settings import PerceptionSettings
from tests.helpers.config import DOWN_LLM, make_dispatch_config
from tests.helpers.synthetic import FakeColourDetector, H, W, appearing_object, moving_square, scene, write_video
from tests.helpers.webauth import login

CAMERA = "cam-test"


@pytest.fixture(scope="module")
def city_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample city with one camera whose zones fit the synthetic clips."""
    data = yaml.safe_load(SAMPLE_CITY.read_text())
    data["cameras"] = [{
        "id": CAMERA, "name": "Test St & 1st", "source": "rtsp://127.0.0.1:9/none",
        "location": {"lat": 41.62, "lon": -93.65}, "detection_fps": 10, "recheck_interval_s": 3,
        "zones": [{"name": "street", "polygon": [[0, 0], [W, 0], [W, H], [0, H]]}]}]
    path = tmp_path_factory.mktemp("city") / "city.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A garbage heap appears at 2 s and stays; a white bicycle-like blob crosses at 5-7 s."""
    heap = appearing_object(start=20, box=(200, 150, 260, 200), fade_frames=12, colour=(10, 10, 10))
    bike = moving_square(size=20, step=6, y=40, colour=(255, 255, 255))

    def draw(frame: np.ndarray, i: int) -> None:
        heap(frame, i)
        if 50 <= i < 70:
            bike(frame, i - 50)
    return write_video(tmp_path_factory.mktemp("clips") / "street.mp4", scene(100, W, H, draw))


@pytest.fixture(scope="module")
def tiny_owl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from perception.testing import build_tiny_owlv2

    folder = tmp_path_factory.mktemp("tiny-owlv2")
    build_tiny_owlv2(folder)
    return folder


def _perception(model_path: Path) -> PerceptionSettings:
    return PerceptionSettings(model_path=model_path, clip_model=None, device="cpu")


@pytest.fixture()
def client(migrated_db: str, broker_url: str, clean_state: None, city_file: Path, tiny_owl: Path,
           tmp_path: Path) -> Iterator[TestClient]:
    dispatch = make_dispatch_config(migrated_db, broker_url, DOWN_LLM).model_copy(update={
        "city_file": city_file,
        "perception": _perception(tiny_owl).model_copy(update={"spool_dir": tmp_path / "spool",
                                                               "max_clip_bytes": 2_000_000})})
    with TestClient(create_app(ApiConfig(dispatch=dispatch, max_image_bytes=2_000_000))) as test_client:
        yield test_client


def _understand_and_route(event_id: str) -> Ticket:
    rt = get_runtime()
    incident_id = incident_flows.understand_event(factory=rt.factory, city=rt.city, chat=None,
                                         event_id=uuid.UUID(event_id))
    assert incident_id is not None
    routed = ticket_flows.route_incident(factory=rt.factory, city=rt.city, chat=None, incident_id=incident_id)
    assert routed is not None
    with rt.factory() as db:
        ticket = db.get(Ticket, routed[0])
        assert ticket is not None
        db.expunge(ticket)
        return ticket


def test_each_tracked_object_becomes_one_event_and_one_ticket(client: TestClient, street: Path) -> None:
    rt = get_runtime()
    queued: list[str] = []
    camera = camera_for_clip(rt.city, CAMERA, street)
    report = run_camera(city=rt.city, camera=camera, detector=FakeColourDetector(), factory=rt.factory,
                        enqueue=queued.append, max_image_bytes=2_000_000, run_id="job-1")
    assert report.created == 2 and len(queued) == 2
    assert report.refreshed == len(report.events) - 2  # updates and ends refresh, never add
    with rt.factory() as db:
        events = db.scalars(select(Event).where(Event.source == "camera")).all()
        assert sorted(e.category_hint for e in events) == ["exposed_garbage", "fallen_bicycle"]
        heap = next(e for e in events if e.category_hint == "exposed_garbage")
        attrs = heap.attributes
        assert attrs["camera_id"] == CAMERA and attrs["zone"] == "street" and attrs["ended"] is True
        x1, y1, x2, y2 = attrs["box"]
        assert abs(x1 - 200) <= 3 and abs(y2 - 200) <= 3
        assert attrs["frame"] == [W, H]  # what the box's pixels are relative to
        assert heap.image_content_type == "image/jpeg"
        with Image.open(io.BytesIO(heap.image)) as image:
            assert image.size == (W, H)
        assert heap.lat == 41.62 and heap.district == "north_bank"
        assert "Test St & 1st" in heap.description
    tickets = {t.category: t for t in (_understand_and_route(e) for e in queued)}
    assert set(tickets) == {"exposed_garbage", "fallen_bicycle"}
    assert all(t.agency for t in tickets.values())
    # the same clip run again under the same job id adds nothing
    again = run_camera(city=rt.city, camera=camera, detector=FakeColourDetector(), factory=rt.factory,
                       enqueue=queued.append, max_image_bytes=2_000_000, run_id="job-1")
    assert again.created == 0 and len(queued) == 2
    with rt.factory() as db:
        assert db.scalar(select(func.count()).select_from(Event)) == 2


def test_clip_upload_runs_through_the_tiny_model(client: TestClient, street: Path) -> None:
    login(client, "camera-operator", role="dispatcher")
    with street.open("rb") as clip:
        reply = client.post(f"/api/cameras/{CAMERA}/clips", files={"file": ("street.mp4", clip, "video/mp4")})
    assert reply.status_code == 202, reply.text
    job = reply.json()
    assert job["status"] == "queued" and job["size_bytes"] == street.stat().st_size
    from dispatch.cameras.tasks import ingest_clip

    assert ingest_clip(job["id"]) == "done"  # what the perception worker runs
    done = client.get(job["links"]["self"]).json()
    assert done["status"] == "done", done
    assert done["stats"]["frames_decoded"] == 100
    assert 0 < done["stats"]["frames_to_detector"] < 100
    assert not Path(get_runtime().config.perception.spool_dir, f"{job['id']}.clip").exists()
    assert ingest_clip(job["id"]) == "done"  # a redelivered task does nothing more


def test_a_clip_job_runs_in_one_worker_at_a_time_and_lost_runs_are_swept(
    client: TestClient, street: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dispatch.cameras.tasks as tasks

    login(client, "camera-operator", role="dispatcher")
    with street.open("rb") as clip:
        job = client.post(f"/api/cameras/{CAMERA}/clips",
                          files={"file": ("street.mp4", clip, "video/mp4")}).json()
    key = uuid.UUID(job["id"])
    sent: list[uuid.UUID] = []
    monkeypatch.setattr(tasks, "enqueue_clip", sent.append)
    monkeypatch.setattr("dispatch.tasks.queue_depth", lambda queue: 0)
    with tasks.job_lock(key) as mine:  # another worker is running this job
        assert mine
        assert tasks.ingest_clip(job["id"]) == "running elsewhere"  # a duplicate message leaves
        with transaction(get_runtime().factory) as db:  # as a run leaves it, long ago
            row = db.get(ClipJob, key)
            assert row is not None and row.status == "queued"
            row.status, row.created_at = "running", datetime.now(UTC) - timedelta(hours=1)
        assert tasks.sweep_clips() == 0 and sent == []  # its run is alive: not lost
    assert tasks.sweep_clips() == 1 and sent == [key]  # the run died: queued again
    monkeypatch.setattr("dispatch.tasks.queue_depth", lambda queue: 3)
    assert tasks.sweep_clips() == 0  # a backlog: old means still queued, nothing is re-sent
    assert tasks.ingest_clip(job["id"]) == "done"
    assert not Path(get_runtime().config.perception.spool_dir, f"{job['id']}.clip").exists()


def test_a_verifier_that_fails_to_load_is_tried_again_not_half_cached(
    client: TestClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dispatch.cameras.tasks as tasks
    import perception.loading

    calls: list[int] = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(tasks, "loaded_models", {})
    monkeypatch.setattr(perception.loading, "build_verifier", broken)
    for _ in range(2):  # before: the second call failed with KeyError 'verifier' forever
        with pytest.raises(RuntimeError, match="out of memory"):
            tasks.load_models()
    assert len(calls) == 2 and tasks.loaded_models == {}


def test_a_failing_pipeline_shows_as_failed_with_its_error(client: TestClient) -> None:
    """The source may be fine while the pipeline fails (a zone outside the frame, the database
    away): the camera's state must say so, not flip between stopped and running."""
    import time as clock

    from dispatch.cameras.live import PipelineFailure, report_status
    from perception.sources import SourceHealth

    health = SourceHealth("rtsp://cam/1", "running", None, 120, 0, 0, None)
    factory = get_runtime().factory
    failure = PipelineFailure(clock.monotonic(), "FrameMismatch: zones[0] lies outside the 640x480 frame", 3)
    from perception.types import redact

    assert redact("OSError: rtsp://admin:pw@10.0.0.1/s failed") == "OSError: rtsp://***@10.0.0.1/s failed"
    report_status(factory, camera_id=CAMERA, worker="host:1", health=health, failure=failure)
    with factory() as db:
        row = db.get(CameraStatus, CAMERA)
        assert row is not None and row.state == "failed"
        assert row.detail["pipeline_error"].startswith("FrameMismatch") and row.detail["pipeline_restarts"] == 3
    report_status(factory, camera_id=CAMERA, worker="host:1", health=health,
                  failure=PipelineFailure(clock.monotonic() - 600, failure.message, 3))
    with factory() as db:
        row = db.get(CameraStatus, CAMERA)
        assert row is not None and row.state == "running"  # recovered; the last error stays visible
        assert row.detail["pipeline_restarts"] == 3


def test_a_failed_clip_job_leaves_no_spooled_file(client: TestClient, street: Path) -> None:
    import dispatch.cameras.tasks as tasks

    login(client, "camera-operator", role="dispatcher")
    with street.open("rb") as clip:
        job = client.post(f"/api/cameras/{CAMERA}/clips",
                          files={"file": ("street.mp4", clip, "video/mp4")}).json()
    spooled = Path(get_runtime().config.perception.spool_dir, f"{job['id']}.clip")
    assert spooled.exists()
    with transaction(get_runtime().factory) as db:  # the camera left the city file meanwhile
        row = db.get(ClipJob, uuid.UUID(job["id"]))
        assert row is not None
        row.camera_id = "removed-camera"
    assert tasks.ingest_clip(job["id"]) == "failed"
    assert client.get(job["links"]["self"]).json()["status"] == "failed"
    assert not spooled.exists()


def test_clip_upload_bad_input(client: TestClient, tmp_path: Path) -> None:
    login(client, "camera-operator", role="dispatcher")
    url = f"/api/cameras/{CAMERA}/clips"
    not_video = client.post(url, files={"file": ("x.mp4", b"this is not a video at all", "video/mp4")})
    assert not_video.status_code == 422, not_video.text
    assert "file" in not_video.text
    empty = client.post(url, files={"file": ("x.mp4", b"", "video/mp4")})
    assert empty.status_code == 422 and "empty" in empty.text
    over = client.post(url, files={"file": ("x.mp4", b"\0" * 2_030_000, "video/mp4")})  # caught streaming
    assert over.status_code == 422 and "limit of 2000000 bytes" in over.text
    far_over = client.post(url, files={"file": ("x.mp4", b"\0" * 2_100_000, "video/mp4")})  # by its length
    assert far_over.status_code == 413 and "over the limit" in far_over.text
    assert client.post("/api/cameras/nope/clips", files={"file": ("x.mp4", b"x", "video/mp4")}).status_code == 404

    def chunks() -> Iterator[bytes]:  # a body of undeclared size: refused before it is read
        yield b"\0" * 1000
    chunked = client.post(url, content=chunks(), headers={"Content-Type": "application/octet-stream"})
    assert chunked.status_code == 411 and "Content-Length" in chunked.text
    with get_runtime().factory() as db:
        assert db.scalar(select(func.count()).select_from(ClipJob)) == 0
    assert not any((tmp_path / "spool").glob("*.clip"))


def test_cameras_are_for_operators_only(client: TestClient, street: Path) -> None:
    login(client, "landscaping-worker", role="staff", agency="landscaping")
    assert client.get("/api/cameras").status_code == 403
    with street.open("rb") as clip:
        reply = client.post(f"/api/cameras/{CAMERA}/clips", files={"file": ("s.mp4", clip, "video/mp4")})
    assert reply.status_code == 403
    client.cookies.clear()
    client.headers.pop("X-CSRF-Token", None)
    assert client.get("/api/cameras").status_code == 401


def test_health_and_camera_list_report_worker_state(client: TestClient) -> None:
    login(client, "camera-operator", role="dispatcher")
    listed = client.get("/api/cameras").json()["items"]
    assert [c["id"] for c in listed] == [CAMERA] and listed[0]["status"]["state"] == "no worker"
    with get_runtime().factory() as db, db.begin():
        db.merge(CameraStatus(camera_id=CAMERA, worker="host:1", state="reconnecting",
                              detail={"last_error": "connection refused", "reconnects": 3}))
    listed = client.get("/api/cameras").json()["items"]
    assert listed[0]["status"]["state"] == "reconnecting" and listed[0]["status"]["reconnects"] == 3
    health = client.get("/health").json()["checks"]["perception"]
    assert health["ok"] is True and health["cameras"] == {CAMERA: "reconnecting"}


def test_upload_when_perception_is_off_says_why(migrated_db: str, broker_url: str, clean_state: None,
                                                 city_file: Path, tmp_path: Path, street: Path) -> None:
    dispatch = make_dispatch_config(migrated_db, broker_url, DOWN_LLM).model_copy(update={
        "city_file": city_file, "perception": PerceptionSettings(models_dir=tmp_path / "no-models")})
    with TestClient(create_app(ApiConfig(dispatch=dispatch, max_image_bytes=2_000_000))) as client:
        login(client, "camera-operator", role="dispatcher")
        with street.open("rb") as clip:
            reply = client.post(f"/api/cameras/{CAMERA}/clips", files={"file": ("s.mp4", clip, "video/mp4")})
        assert reply.status_code == 503
        assert "perception is off" in reply.json()["detail"] and "config.json" in reply.json()["detail"]
        health = client.get("/health").json()
        assert health["checks"]["perception"]["ok"] is False
        assert "owlv2-base-patch16-ensemble" in health["checks"]["perception"]["error"]


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "cityloop"), *args], capture_output=True, text=True,
                          env={**os.environ, "CITYLOOP_CONFIG": "/nonexistent.yaml", **env}, timeout=240)


def test_cli_ingest_without_weights_says_which_file(tmp_path: Path, street: Path, city_file: Path) -> None:
    done = _cli(["ingest", str(street), "--camera", CAMERA, "--dry-run"],
                {"CITY_FILE": str(city_file), "PERCEPTION__MODELS_DIR": str(tmp_path)})
    assert done.returncode == 3, done.stderr
    assert "perception is off" in done.stderr
    assert str(tmp_path / "owlv2-base-patch16-ensemble" / "config.json") in done.stderr
    assert "cityloop models pull owlv2-base-patch16-ensemble" in done.stderr


def test_cli_ingest_stores_events_and_prints_them(migrated_db: str, broker_url: str, clean_state: None,
                                                  street: Path, city_file: Path, tiny_owl: Path) -> None:
    env = {"CITY_FILE": str(city_file), "PERCEPTION__MODEL_PATH": str(tiny_owl),
           "PERCEPTION__CLIP_MODEL": "none", "DATABASE_URL": migrated_db, "BROKER_URL": broker_url}
    done = _cli(["ingest", str(street), "--camera", CAMERA, "--json"], env)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    summary = [json_line for json_line in lines if '"summary"' in json_line]
    assert len(summary) == 1 and '"frames_decoded": 100' in summary[0]
    report = json.loads(summary[0])["summary"]
    printed = [json.loads(line) for line in lines if '"kind"' in line]
    stored_ids = {line["event_id"] for line in printed}  # every printed event names its stored event
    assert all("event_id" in line for line in printed)
    with get_runtime_free_session(migrated_db) as count:
        assert count == len(stored_ids) == report["events_created"]
        assert report["events_created"] + report["events_refreshed"] == len(printed)
    bad = _cli(["ingest", str(street), "--camera", "nope", "--dry-run"], env)
    assert bad.returncode == 2 and "unknown camera 'nope'" in bad.stderr


def test_cli_ingest_with_clip_verification(street: Path, city_file: Path, tiny_owl: Path, tmp_path: Path) -> None:
    """The tiny CLIP checks every candidate against the city's prompts and negatives."""
    from perception.testing import build_tiny_clip

    build_tiny_clip(tmp_path / "clip")
    env = {"CITY_FILE": str(city_file), "PERCEPTION__MODEL_PATH": str(tiny_owl),
           "PERCEPTION__CLIP_MODEL_PATH": str(tmp_path / "clip")}
    done = _cli(["ingest", str(street), "--camera", CAMERA, "--dry-run", "--json"], env)
    assert done.returncode == 0, done.stderr
    assert "CLIP verification is off" not in done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"kind"')]
    assert all("clip" in line["scores"] for line in printed)  # every event passed the verifier
    summary = json.loads(done.stdout.splitlines()[-1])["summary"]
    assert summary["frames_decoded"] == 100 and summary["events_created"] == 0  # a dry run stores nothing


class FakeEmbeddingVerifier:
    """A fake of the CLIP verifier: keeps every detection, giving each a unit crop embedding of
    its class (garbage and bicycles look different)."""

    def verify(self, frame_rgb: Any, detections: Any, categories: Any) -> Any:
        detections.data["clip_score"] = np.full(len(detections), 0.9)
        detections.data["embedding"] = np.array(
            [[1.0, 0.0, 0.0] if name == "exposed_garbage" else [0.0, 1.0, 0.0]
             for name in detections.data["class_name"]])
        return detections


def test_each_stored_camera_event_keeps_its_crop_embedding(client: TestClient, street: Path) -> None:
    """With a verifier, each camera event stores its best crop's embedding ("show similar")."""
    rt = get_runtime()
    camera = camera_for_clip(rt.city, CAMERA, street)
    report = run_camera(city=rt.city, camera=camera, detector=FakeColourDetector(), factory=rt.factory,
                        verifier=FakeEmbeddingVerifier(), max_image_bytes=2_000_000, run_id="job-2")
    assert report.created == 2
    with rt.factory() as db:
        crops = dict(db.execute(select(Event.category_hint, Event.crop_embedding)
                                .where(Event.source == "camera")).tuples().all())
    assert crops == {"exposed_garbage": [1.0, 0.0, 0.0], "fallen_bicycle": [0.0, 1.0, 0.0]}


class get_runtime_free_session:  # noqa: N801  (a context manager read like a function)
    """Counts camera events straight from the database the CLI wrote to."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(url)

    def __enter__(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Event)
                                    .where(Event.source == "camera")).scalar_one())

    def __exit__(self, *exc: object) -> None:
        self.engine.dispose()


class FakeImageSource:
    """Yields the given frames once, like a camera that answers (or not, when empty)."""

    def __init__(self, frames: list[Any]) -> None:
        self.frames = frames

    def __iter__(self) -> Iterator[Any]:
        return iter(self.frames)

    def stop(self) -> None:
        pass


def _frames(street: Path, at: int) -> list[Any]:
    from perception.decode import decode_video

    return [f for f in decode_video(str(street), fps=None) if f.index >= at][:3]


def test_recheck_runner_sees_the_heap_or_says_it_is_gone(street: Path, city_file: Path) -> None:
    city = load_city(city_file)
    heap_box = [200.0, 150.0, 260.0, 200.0]
    runner = PerceptionRecheckRunner(city, FakeColourDetector(),
                                     source_for=lambda camera: FakeImageSource(_frames(street, 90)))
    still = runner.check(CAMERA, "street", "exposed_garbage", heap_box)
    assert still.still_present and still.snapshot_jpeg and still.snapshot_jpeg[:2] == b"\xff\xd8"
    cleared = PerceptionRecheckRunner(city, FakeColourDetector(),
                                      source_for=lambda camera: FakeImageSource(_frames(street, 0)))
    result = cleared.check(CAMERA, "street", "exposed_garbage", heap_box)
    assert not result.still_present and "no exposed_garbage" in result.detail
    silent = PerceptionRecheckRunner(city, FakeColourDetector(), timeout_s=1,
                                     source_for=lambda camera: FakeImageSource([]))
    with pytest.raises(RecheckUnavailable, match="no frame"):
        silent.check(CAMERA, "street", "exposed_garbage", heap_box)
    with pytest.raises(RecheckUnavailable, match="no longer configured"):
        runner.check("gone-camera", "street", "exposed_garbage", heap_box)


def test_recheck_of_a_camera_that_is_down_gives_up_at_its_deadline(city_file: Path) -> None:
    """An unreachable stream reconnects forever and yields no frame; the re-check must still end."""
    import threading

    from perception.sources import StreamOptions, open_source

    city = load_city(city_file)
    options = StreamOptions(timeout_s=1, backoff_s=0.2, max_backoff_s=0.5)
    down = PerceptionRecheckRunner(
        city, FakeColourDetector(), timeout_s=2,
        source_for=lambda camera: open_source(
            camera.model_copy(update={"source": "rtsp://127.0.0.1:9/down"}), stream=options),
    )
    errors: list[Exception] = []

    def run() -> None:
        try:
            down.check(CAMERA, "street", "exposed_garbage", [200.0, 150.0, 260.0, 200.0])
        except Exception as exc:  # noqa: BLE001 - the test inspects it below
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)  # a hang detector, not a speed test: before the fix it never returned
    assert not worker.is_alive(), "the re-check of a camera that is down never returned"
    assert len(errors) == 1 and isinstance(errors[0], RecheckUnavailable)
    assert "no frame" in str(errors[0])


def test_live_camera_worker_reconnects_and_reports_its_state(
    migrated_db: str, broker_url: str, clean_state: None, city_file: Path, tiny_owl: Path, tmp_path: Path,
) -> None:
    """`cityloop cameras run` against a stream that refuses: it stays up, retries, and says so."""
    import time

    from sqlalchemy import create_engine

    env = {**os.environ, "CITYLOOP_CONFIG": "/nonexistent.yaml", "CITY_FILE": str(city_file),
           "PERCEPTION__MODEL_PATH": str(tiny_owl), "PERCEPTION__CLIP_MODEL": "none",
           "DATABASE_URL": migrated_db, "BROKER_URL": broker_url}
    engine = create_engine(migrated_db)
    log = (tmp_path / "cameras.log").open("w")
    worker = subprocess.Popen([str(Path(sys.executable).parent / "cityloop"), "cameras", "run",
                               "--status-every", "0.5"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        seen: list[tuple[str, dict[str, Any]]] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                row = conn.execute(select(CameraStatus.state, CameraStatus.detail)
                                   .where(CameraStatus.camera_id == CAMERA)).first()
            if row is not None:
                seen.append((row[0], row[1]))
                if row[1].get("reconnects", 0) >= 2:
                    break
            assert worker.poll() is None, (tmp_path / "cameras.log").read_text()
            time.sleep(0.5)
        assert seen, (tmp_path / "cameras.log").read_text()
        state, detail = seen[-1]
        assert detail["reconnects"] >= 2 and state in ("connecting", "reconnecting")
        assert detail["last_error"] and "127.0.0.1:9" in detail["source"]
        assert worker.poll() is None  # still alive after the stream refused it twice
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        engine.dispose()
        log.close()


def test_resolved_camera_ticket_is_reopened_when_the_heap_is_still_there(
    client: TestClient, street: Path,
) -> None:
    """Camera track → event → ticket → resolved → re-check of its zone by the detector → reopened."""
    from datetime import UTC, datetime, timedelta

    from dispatch.cameras import recheck
    from dispatch.core.db import transaction

    rt = get_runtime()
    queued: list[str] = []
    run_camera(city=rt.city, camera=camera_for_clip(rt.city, CAMERA, street), detector=FakeColourDetector(),
               factory=rt.factory, enqueue=queued.append, max_image_bytes=2_000_000, run_id="job-r")
    heap_event = next(e for e in queued if _category_of(e) == "exposed_garbage")
    ticket = _understand_and_route(heap_event)
    login(client, "camera-operator", role="dispatcher")
    for action in ("acknowledge", "resolve"):
        reply = client.post(f"/api/tickets/{ticket.id}/{action}", json={"actor": "x", "note": "heap removed"})
        assert reply.status_code == 200, reply.text
    with transaction(rt.factory) as db:
        [recheck_id] = recheck.schedule(db_session=db, city=rt.city)
    runner = PerceptionRecheckRunner(rt.city, FakeColourDetector(),
                                     source_for=lambda camera: FakeImageSource(_frames(street, 90)))
    later = datetime.now(UTC) + timedelta(days=1)
    assert recheck.run_due(factory=rt.factory, city=rt.city, runner=runner, now=later) == {
        recheck_id: "reopened"}
    body = client.get(f"/api/tickets/{ticket.id}").json()
    assert body["status"] == "open"
    evidence = client.get(body["history"][-1]["data"]["snapshot"])
    assert evidence.status_code == 200 and evidence.content[:2] == b"\xff\xd8"


def _category_of(event_id: str) -> str | None:
    with get_runtime().factory() as db:
        event = db.get(Event, uuid.UUID(event_id))
        return event.category_hint if event else None

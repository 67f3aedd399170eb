"""How often each classifier stage, alone and combined, picks the right category.

The labelled set (``data/city_events.csv``: ``text,category``) holds short city-event
texts written for the sample city Riverton, about nine per category including "other".
Each method answers every row; a method that cannot decide answers the city's
fallback category, exactly as the pipeline would.

* keywords — the category keyword rules alone (``classify_keywords``);
* embeddings — similarity to each category's description and examples alone,
  above the classifier's score and margin thresholds;
* llm — the schema-constrained LLM call alone (``classify_llm``);
* no_llm — ``classify`` without an LLM: keywords, then embeddings, else the fallback;
* combined — ``classify`` itself: keywords, then embeddings, then the LLM.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from agents import classify, classify_keywords
from agents.classifier import EMBEDDING_MIN_SCORE, CategorySpec, classify_embedding, embedding_decides
from agents.embeddings import Embedder
from cityloop.evaluation.abstention import calibrate, refused
from cityloop.evaluation.scoring import llm_only_answer, percent
from dispatch.city.config import CityConfig

DATA_FILE = Path(__file__).resolve().parent / "data" / "city_events.csv"
METHODS = ("keywords", "embeddings", "llm", "no_llm", "combined")
COLUMNS = frozenset({"text", "category"})


class EvaluationError(Exception):
    """The labelled set cannot be read; the message says why."""


@dataclass(frozen=True)
class LabelledText:
    text: str
    category: str


@dataclass
class ClassifierReport:
    """Correct answers per method and category, and how ``combined`` decided."""

    methods: tuple[str, ...]
    n_by_category: Counter[str] = field(default_factory=Counter)
    correct: dict[str, Counter[str]] = field(default_factory=dict)
    combined_stages: Counter[str] = field(default_factory=Counter)
    llm_errors: int = 0
    model: str | None = None
    embedder: str | None = None
    off_topic: int = 0
    off_topic_given_a_category: Counter[str] = field(default_factory=Counter)
    """Per method, off-topic texts that got a category other than the fallback."""
    embedding_calibration: dict[str, float] = field(default_factory=dict)


def is_labelled(path: Path) -> bool:
    """Whether ``path`` is a CSV with the columns ``text`` and ``category`` (else, say, a 311 extract)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return COLUMNS <= set(next(csv.reader(handle), ()))
    except (OSError, UnicodeDecodeError):
        return False


def parse_map(value: str | None) -> dict[str, str]:
    """``"text=COL,category=COL"`` -> ``{"text": COL, "category": COL}`` (default: the same names)."""
    mapping = {"text": "text", "category": "category"}
    for part in filter(None, (value or "").split(",")):
        key, _, column = part.partition("=")
        if key.strip() not in mapping or not column.strip():
            raise EvaluationError(f"--map: expected text=COLUMN,category=COLUMN, got {part!r}")
        mapping[key.strip()] = column.strip()
    return mapping


def load_labelled(path: Path, city: CityConfig, columns: dict[str, str] | None = None) -> list[LabelledText]:
    """The rows of a labelled CSV (columns ``text`` and ``category`` unless ``columns`` maps
    them); every category must be one of the city's."""
    text_col, category_col = (columns or {}).get("text", "text"), (columns or {}).get("category", "category")
    if not path.is_file():
        raise EvaluationError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not {text_col, category_col} <= set(reader.fieldnames or ()):
            raise EvaluationError(f"{path}: need the columns {text_col} and {category_col}")
        rows = [LabelledText(r[text_col].strip(), r[category_col].strip()) for r in reader]
    codes = {c.code for c in city.categories}
    unknown = sorted({row.category for row in rows} - codes)
    if unknown:
        raise EvaluationError(f"{path}: categories not in {city.city.name}: {', '.join(unknown)}")
    return [row for row in rows if row.text]


def evaluate(
    rows: Sequence[LabelledText],
    *,
    categories: list[CategorySpec],
    fallback: str,
    embedder: Embedder | None,
    chat: BaseChatModel | None,
    progress: Callable[[int], None] | None = None,
) -> ClassifierReport:
    """Score every method that has what it needs (no embedder or LLM: those are left out)."""
    methods = tuple(m for m in METHODS
                    if not (m == "embeddings" and embedder is None)
                    and not (m in ("llm", "no_llm") and chat is None))
    report = ClassifierReport(methods=methods, correct={m: Counter() for m in methods},
                              embedder=embedder.name if embedder else None)
    vectors = embedder.embed([row.text for row in rows]) if embedder is not None else None
    for index, row in enumerate(rows):
        report.n_by_category[row.category] += 1
        answers: dict[str, str] = {}
        keyword = classify_keywords(row.text, categories)
        answers["keywords"] = keyword[0] if keyword else fallback
        if embedder is not None and vectors is not None:
            match = classify_embedding(embedder, text=row.text, categories=categories,
                                       fallback_code=fallback, text_vector=vectors[index])
            answers["embeddings"] = match[0] if match and embedding_decides(match) else fallback
        if chat is not None:
            answers["llm"] = llm_only_answer(chat, text=row.text, categories=categories,
                                             fallback=fallback, tally=report)
        vector = vectors[index] if vectors is not None else None
        if chat is not None:
            answers["no_llm"] = classify(text=row.text, categories=categories, chat=None,
                                         fallback_code=fallback, embedder=embedder,
                                         text_vector=vector).category
        result = classify(text=row.text, categories=categories, chat=chat,
                          fallback_code=fallback, embedder=embedder,
                          text_vector=vector)
        answers["combined"] = result.category
        report.combined_stages[result.method] += 1
        if result.model and result.method == "llm":
            report.model = result.model
        for method in methods:
            if answers[method] == row.category:
                report.correct[method][row.category] += 1
        if progress is not None:
            progress(index + 1)
    return report


def score_off_topic(report: ClassifierReport, texts: Sequence[str], *, categories: list[CategorySpec],
                    fallback: str, embedder: Embedder | None, chat: BaseChatModel | None) -> None:
    """Count, per method, the off-topic texts given a category (anything but ``fallback``)."""
    report.off_topic = len(texts)
    vectors = embedder.embed(list(texts)) if embedder is not None and texts else None
    for index, text in enumerate(texts):
        answers: dict[str, str] = {}
        keyword = classify_keywords(text, categories)
        answers["keywords"] = keyword[0] if keyword else fallback
        vector = vectors[index] if vectors is not None else None
        if embedder is not None:
            match = classify_embedding(embedder, text=text, categories=categories, fallback_code=fallback,
                                       text_vector=vector)
            answers["embeddings"] = match[0] if match and embedding_decides(match) else fallback
        if chat is not None:
            answers["llm"] = llm_only_answer(chat, text=text, categories=categories, fallback=fallback,
                                             tally=report)
            answers["no_llm"] = classify(text=text, categories=categories, chat=None, fallback_code=fallback,
                                         embedder=embedder, text_vector=vector).category
        answers["combined"] = classify(text=text, categories=categories, chat=chat, fallback_code=fallback,
                                       embedder=embedder, text_vector=vector).category
        for method in report.methods:
            report.off_topic_given_a_category[method] += answers[method] != fallback


def calibrate_embedding(rows: Sequence[LabelledText], off_topic: Sequence[str], *,
                        categories: list[CategorySpec], fallback: str, embedder: Embedder) -> dict[str, float]:
    """The embedding stage's score threshold, chosen on the even-numbered city texts (not
    ``fallback``) against the even-numbered off-topic texts; figures on the odd ones."""
    def top(texts: Sequence[str]) -> list[float]:
        vectors = embedder.embed(list(texts))
        found = [classify_embedding(embedder, text=t, categories=categories, fallback_code=fallback,
                                    text_vector=v) for t, v in zip(texts, vectors, strict=True)]
        return [match[1] if match else 0.0 for match in found]

    city = top([r.text for r in rows if r.category != fallback])
    off = top(off_topic)
    threshold = calibrate(city[0::2], off[0::2])
    return {"threshold": threshold, "current": EMBEDDING_MIN_SCORE,
            "odd_city_texts_refused": refused(city[1::2], threshold),
            "odd_off_topic_refused": refused(off[1::2], threshold),
            "current_city_texts_refused": refused(city, EMBEDDING_MIN_SCORE),
            "current_off_topic_refused": refused(off, EMBEDDING_MIN_SCORE)}


def accuracy(report: ClassifierReport) -> dict[str, float]:
    total = sum(report.n_by_category.values())
    return {m: round(sum(report.correct[m].values()) / total, 4) if total else 0.0 for m in report.methods}


def off_topic_false_positive(report: ClassifierReport) -> dict[str, float]:
    return {m: round(report.off_topic_given_a_category[m] / report.off_topic, 4) if report.off_topic else 0.0
            for m in report.methods}


def as_json(report: ClassifierReport) -> dict[str, Any]:
    """``{"accuracy": {method: share}, "off_topic_false_positive": share of the combined
    classifier, "off_topic_false_positive_by_method": {...}, ...}``"""
    by_method = off_topic_false_positive(report)
    return {"accuracy": accuracy(report), "off_topic_false_positive": by_method.get("combined"),
            "off_topic_false_positive_by_method": by_method, "texts": sum(report.n_by_category.values()),
            "off_topic_texts": report.off_topic, "combined_decided_by": dict(report.combined_stages),
            "embedding_calibration": report.embedding_calibration, "embedder": report.embedder,
            "model": report.model, "llm_errors": report.llm_errors}


def format_report(report: ClassifierReport) -> str:
    """Accuracy per category (rows) and method (columns), then the total."""
    width = max([len("category"), *(len(c) for c in report.n_by_category)]) + 2
    header = f"{'category':<{width}}{'n':>4}" + "".join(f"{m:>12}" for m in report.methods)
    lines = [header, "-" * len(header)]
    for code in sorted(report.n_by_category):
        n = report.n_by_category[code]
        cells = "".join(f"{percent(report.correct[m][code], n):>12}" for m in report.methods)
        lines.append(f"{code:<{width}}{n:>4}{cells}")
    total = sum(report.n_by_category.values())
    cells = "".join(
        f"{percent(sum(report.correct[m].values()), total):>12}" for m in report.methods)
    lines += ["-" * len(header), f"{'TOTAL':<{width}}{total:>4}{cells}"]
    stages = ", ".join(f"{name} {n}" for name, n in report.combined_stages.most_common())
    lines.append(f"combined decided by: {stages}")
    lines.append(f"embedder: {report.embedder or 'none'}; LLM: {report.model or 'none'}"
                 f" ({report.llm_errors} LLM-only call(s) failed and count as the fallback)")
    if report.off_topic:
        rates = off_topic_false_positive(report)
        lines.append(f"off-topic texts given a category ({report.off_topic}): "
                     + ", ".join(f"{m} {rate:.3f}" for m, rate in rates.items()))
    if report.embedding_calibration:
        c = report.embedding_calibration
        lines.append(f"embedding threshold {c['current']:.3f}: refuses {c['current_city_texts_refused']:.3f} of the "
                     f"city texts, {c['current_off_topic_refused']:.3f} of the off-topic; calibrated on the even "
                     f"half {c['threshold']:.3f}: on the odd half {c['odd_city_texts_refused']:.3f} / "
                     f"{c['odd_off_topic_refused']:.3f}")
    return "\n".join(lines)


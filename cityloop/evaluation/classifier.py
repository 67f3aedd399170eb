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

from langchain_core.language_models import BaseChatModel

from agents import classify, classify_keywords
from agents.classifier import CategorySpec, classify_embedding, embedding_decides
from agents.embeddings import Embedder
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


def is_labelled(path: Path) -> bool:
    """Whether ``path`` is a CSV with the columns ``text`` and ``category`` (else, say, a 311 extract)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return COLUMNS <= set(next(csv.reader(handle), ()))
    except (OSError, UnicodeDecodeError):
        return False


def load_labelled(path: Path, city: CityConfig) -> list[LabelledText]:
    """The rows of a ``text,category`` CSV; every category must be one of the city's."""
    if not path.is_file():
        raise EvaluationError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not COLUMNS <= set(reader.fieldnames or ()):
            raise EvaluationError(f"{path}: need the columns text and category")
        rows = [LabelledText(r["text"].strip(), r["category"].strip()) for r in reader]
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
    return "\n".join(lines)


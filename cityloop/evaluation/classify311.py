"""How well the classifier maps real 311 requests (NYC, SF) to a city's categories.

Ground truth. A city file has no table from 311 complaint types to categories: the
routing eval (``cityloop.evaluation.routing``) classifies what a citizen chose with the
city's category keywords, and this eval takes that same mapping as the truth, applied to
the request *type* alone:

* NYC 311: ``complaint_type`` ("Noise - Residential" -> noise);
* SF311: ``category`` and ``complaint_type`` joined as the routing eval joins visible
  fields ("Sewer Issues: Flooding" -> water_sewer).

A type no keyword decides (nothing matches, or a tie) is the city's fallback category,
exactly as the pipeline's keyword stage would file it.

Classifier input. What the citizen wrote or chose *beyond* the type: the ``descriptor``
("Loud Music/Party", "Blocked Hydrant"; SF's "Trash_Dumping", "Other"). SF's
``status_notes`` are written by the department and ``agency_name`` is the answer to the
routing question, so neither reaches the classifier; SF has no other citizen text column.
Rows whose descriptor is blank or "N/A" give the classifier nothing and are left out
(counted in the report).

Methods. Each answers the city's fallback category when it cannot decide, so "no answer"
is wrong unless the truth is the fallback:

* keywords — ``classify_keywords`` alone, every row;
* embeddings — similarity to each category's description and examples, above the
  classifier's score and margin thresholds, every row (when an embedder is given);
* no_llm — ``classify`` without an LLM (keywords, then embeddings), every row;
* llm — ``classify_llm`` alone, on a random sample of the rows;
* combined — ``classify`` with the embedder and the LLM (the product's classifier), on
  the same sample.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from agents import classify, classify_keywords
from agents.classifier import CategorySpec, classify_embedding, embedding_decides
from agents.embeddings import Embedder
from cityloop.evaluation.routing import citizen_text
from cityloop.evaluation.scoring import llm_only_answer, percent

ALL_ROW_METHODS = ("keywords", "embeddings", "no_llm")
SAMPLE_METHODS = ("llm", "combined")
_BLANK = {"", "n/a", "na", "none"}


class EvaluationError(Exception):
    """The extract cannot be evaluated (missing file or columns); the message says why."""


@dataclass(frozen=True)
class Layout:
    """Which columns give the truth (the request type) and which the classifier's text."""

    name: str
    type_columns: tuple[str, ...]
    text_columns: tuple[str, ...]


NYC_LAYOUT = Layout("nyc311", ("complaint_type",), ("descriptor",))
# status_notes (department-written) and agency_name (the routing answer) stay out.
SF_LAYOUT = Layout("sf311", ("category", "complaint_type"), ("descriptor",))


def detect_layout(header: list[str]) -> Layout:
    columns = set(header)
    if {"agency_name", *SF_LAYOUT.type_columns, *SF_LAYOUT.text_columns} <= columns:
        return SF_LAYOUT
    if {*NYC_LAYOUT.type_columns, *NYC_LAYOUT.text_columns} <= columns:
        return NYC_LAYOUT
    raise EvaluationError("unknown CSV layout: need the columns complaint_type and descriptor "
                          "(NYC 311) or agency_name, category, complaint_type and descriptor "
                          "(SF311)")


@dataclass(frozen=True)
class Request:
    """One 311 request: the classifier's text and the category its type maps to."""

    text: str
    truth: str
    request_type: str


@dataclass(frozen=True)
class LoadedRequests:
    requests: list[Request]
    layout: Layout
    blank_text: int  # rows left out: no descriptor to classify


def truth_category(request_type: str, categories: list[CategorySpec], fallback: str) -> str:
    """The category the city's keywords give the request type; the fallback when none do."""
    match = classify_keywords(request_type, categories)
    return match[0] if match else fallback


def load_requests(path: Path, categories: list[CategorySpec], fallback: str,
                  limit: int | None = None) -> LoadedRequests:
    """The first ``limit`` usable rows of an extract, each with its truth category."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise EvaluationError(f"{path}: cannot read: {exc.strerror}") from None
    requests: list[Request] = []
    blank = 0
    truths: dict[str, str] = {}
    with handle:
        reader = csv.DictReader(handle)
        layout = detect_layout(list(reader.fieldnames or []))
        for row in reader:
            if limit is not None and len(requests) >= limit:
                break
            request_type = citizen_text(row, layout.type_columns)
            text = citizen_text(row, layout.text_columns)
            if not request_type or text.lower() in _BLANK:
                blank += 1
                continue
            if request_type not in truths:
                truths[request_type] = truth_category(request_type, categories, fallback)
            requests.append(Request(text, truths[request_type], request_type))
    return LoadedRequests(requests, layout, blank)


@dataclass
class Classify311Report:
    """Correct answers per method and truth category; LLM methods on ``sample`` rows only."""

    methods: tuple[str, ...]
    n_by_category: Counter[str] = field(default_factory=Counter)
    sample_by_category: Counter[str] = field(default_factory=Counter)
    correct: dict[str, Counter[str]] = field(default_factory=dict)
    combined_stages: Counter[str] = field(default_factory=Counter)
    llm_errors: int = 0
    model: str | None = None
    embedder: str | None = None
    blank_text: int = 0

    @property
    def sample_size(self) -> int:
        return sum(self.sample_by_category.values())


def draw_sample(n_rows: int, size: int, seed: int) -> set[int]:
    return set(random.Random(seed).sample(range(n_rows), min(max(size, 0), n_rows)))


def evaluate(
    loaded: LoadedRequests,
    *,
    categories: list[CategorySpec],
    fallback: str,
    embedder: Embedder | None,
    chat: BaseChatModel | None,
    sample: set[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Classify311Report:
    """Score the rule methods on every row and the LLM methods on ``sample`` (row indices).

    Keywords and embeddings are deterministic, so each distinct text is scored once.
    """
    requests = loaded.requests
    use_llm = chat is not None and bool(sample)
    methods = tuple(m for m in (*ALL_ROW_METHODS, *SAMPLE_METHODS)
                    if not (m == "embeddings" and embedder is None)
                    and not (m in SAMPLE_METHODS and not use_llm))
    report = Classify311Report(methods=methods, correct={m: Counter() for m in methods},
                               embedder=embedder.name if embedder else None,
                               blank_text=loaded.blank_text)
    texts = sorted({r.text for r in requests})
    vectors = dict(zip(texts, embedder.embed(texts), strict=True)) if embedder and texts else {}
    rule_answers: dict[str, dict[str, str]] = {}
    for text in texts:
        answers: dict[str, str] = {}
        keyword = classify_keywords(text, categories)
        answers["keywords"] = keyword[0] if keyword else fallback
        if embedder is not None:
            match = classify_embedding(embedder, text=text, categories=categories,
                                       fallback_code=fallback, text_vector=vectors[text])
            answers["embeddings"] = match[0] if match and embedding_decides(match) else fallback
        answers["no_llm"] = classify(text=text, categories=categories, chat=None,
                                     fallback_code=fallback, embedder=embedder,
                                     text_vector=vectors.get(text)).category
        rule_answers[text] = answers
    sample = sample if use_llm and sample is not None else set()
    done = 0
    for index, request in enumerate(requests):
        truth = request.truth
        report.n_by_category[truth] += 1
        answers = dict(rule_answers[request.text])
        if index in sample and chat is not None:
            report.sample_by_category[truth] += 1
            answers["llm"] = llm_only_answer(chat, text=request.text, categories=categories,
                                             fallback=fallback, tally=report)
            result = classify(text=request.text, categories=categories, chat=chat,
                              fallback_code=fallback, embedder=embedder,
                              text_vector=vectors.get(request.text))
            answers["combined"] = result.category
            report.combined_stages[result.method] += 1
            if result.method == "llm" and result.model:
                report.model = result.model
            done += 1
            if progress is not None:
                progress(done)
        for method in methods:
            if method in answers and answers[method] == truth:
                report.correct[method][truth] += 1
    return report




def format_report(report: Classify311Report) -> str:
    """Per truth category: n and each rule method's accuracy, then the sample's n and the
    LLM methods' accuracy on it; a TOTAL line; how combined decided."""
    rule_methods = [m for m in report.methods if m in ALL_ROW_METHODS]
    llm_methods = [m for m in report.methods if m in SAMPLE_METHODS]
    width = max([len("category"), len("TOTAL"), *(len(c) for c in report.n_by_category)]) + 2
    header = f"{'category':<{width}}{'n':>6}" + "".join(f"{m:>13}" for m in rule_methods)
    if llm_methods:
        header += " |" + f"{'sample':>7}" + "".join(f"{m:>13}" for m in llm_methods)

    def line(label: str, n: int, sample_n: int, hits: Callable[[str], int]) -> str:
        text = f"{label:<{width}}{n:>6}" + "".join(f"{percent(hits(m), n):>13}"
                                                  for m in rule_methods)
        if llm_methods:
            text += " |" + f"{sample_n:>7}" + "".join(f"{percent(hits(m), sample_n):>13}"
                                                     for m in llm_methods)
        return text

    def in_category(code: str) -> Callable[[str], int]:
        return lambda m: report.correct[m][code]

    lines = [header, "-" * len(header)]
    for code in sorted(report.n_by_category, key=lambda c: (-report.n_by_category[c], c)):
        lines.append(line(code, report.n_by_category[code], report.sample_by_category[code],
                          in_category(code)))
    lines.append("-" * len(header))
    lines.append(line("TOTAL", sum(report.n_by_category.values()), report.sample_size,
                      lambda m: sum(report.correct[m].values())))
    if llm_methods:
        stages = ", ".join(f"{name} {n}" for name, n in report.combined_stages.most_common())
        lines.append(f"llm and combined: a random sample of {report.sample_size} rows; "
                     f"combined decided by: {stages}")
        lines.append(f"LLM: {report.model or 'none'} ({report.llm_errors} LLM-only call(s) "
                     "failed and count as the fallback)")
    else:
        lines.append("llm and combined: not run")
    lines.append(f"embedder: {report.embedder or 'none'}; left out: {report.blank_text} row(s) "
                 "without a descriptor")
    return "\n".join(lines)

"""Retrieval, shown answers and abstention of the hotline on a public Q&A set (US government FAQs).

One knowledge-base document per distinct answer (rows with the same answer text are one
document: the data says they are the same answer), cited by its page URL with the answer's
number. A hit is right when its document is one of the question's own answers (a question
asked on two pages has two). The page URL alone is not the test: several answers share a
page, and "always cite the largest page" would score well on pages.

Three figures per retriever (full text, vector, hybrid, BM25, and the most-answered
baseline): recall@1 and recall@5 of the right answer, and recall@1 on the even- and
odd-numbered questions (a choice made on one half holds on the other). The hotline's
retriever is the one ``hotline_mode`` picks for the questions: vector, or BM25 for Chinese
the embedding model cannot read. For it also the text it shows (``agents.answer_span``)
scored against the reference answer (content-word F1), and, with off-topic questions,
abstention: the share of off-topic questions refused and of answerable questions wrongly
refused, at the hotline's threshold and at the threshold calibrated on the even half
(reported on the odd). Where the hotline scores by words (BM25), its weighted coverage is
reported beside the plain coverage it used before.
"""

from __future__ import annotations

import contextlib
import csv
import os
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel
from numpy.typing import NDArray
from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session

from agents.answer_span import answer_span, units
from agents.embeddings import Embedder, reads_text
from agents.errors import LLMUnavailable
from agents.hotline import MIN_ANSWER_SCORE, MIN_LEXICAL_SCORE, Passage, choose_and_draft, grounded
from agents.text import clean, content_words
from cityloop.evaluation.abstention import Abstention, abstention
from dispatch.core.base import Base
from dispatch.hotline.kb import (
    HOTLINE_MODE,
    LEXICAL_MODE,
    Hit,
    KbIndex,
    Mode,
    add_documents,
    hotline_mode,
    search,
)
from dispatch.hotline.models import KbChunk, KbDocument
from dispatch.hotline.parse import ParsedDocument, chunk_paragraphs

MODES: tuple[Mode, ...] = ("fulltext", "vector", "hybrid", "bm25")
OFF_TOPIC_FILE = Path(__file__).resolve().parent / "data" / "off_topic.csv"


@dataclass(frozen=True)
class Case:
    question: str
    answers: frozenset[str]
    """The sources of the documents that answer it."""
    reference: str
    """A reference answer's text."""


@dataclass
class Report:
    documents: int = 0
    questions: int = 0
    retriever: Mode = HOTLINE_MODE
    """The retriever the hotline uses for these questions (``hotline_mode``)."""
    recall: dict[Mode, dict[int, float]] = field(default_factory=dict)
    recall1_halves: dict[Mode, tuple[float, float]] = field(default_factory=dict)
    """recall@1 on the even- and the odd-numbered questions: a choice made on one half holds on the other"""
    shown_f1: dict[str, float] = field(default_factory=dict)
    """Content-word F1 of the shown text against the reference answer: whole passage, span."""
    abstention: Abstention | None = None
    llm_sample: int = 0
    llm_right: int = 0
    llm_grounded: int = 0
    llm_errors: int = 0
    top1_right_on_sample: int = 0
    experiments: dict[str, dict[int, float]] = field(default_factory=dict)
    lexical_abstention: Abstention | None = None
    """Where the hotline searches by BM25 (questions its embedding model cannot read):
    abstention on the top hit's weighted coverage, the hotline's answer score."""
    coverage_abstention: Abstention | None = None
    """The same on the top hit's plain coverage (the share of the question's content
    words in the passage) at ``MIN_ANSWER_SCORE``: the score the hotline used before."""
    baseline: dict[int, float] = field(default_factory=dict)
    """The trivial retriever: the answers that answer most questions, the same for every
    question (the majority baseline of retrieval)."""


@contextlib.contextmanager
def scratch_session(url: str) -> Iterator[Session]:
    """A session whose knowledge-base tables live in a scratch schema, dropped afterwards:
    the evaluation never touches the hotline's own knowledge base."""
    schema = f"kb_eval_{os.getpid()}"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(text(f'SET search_path TO "{schema}"'))
        tables = [Base.metadata.tables[model.__tablename__] for model in (KbDocument, KbChunk)]
        Base.metadata.create_all(conn, tables=tables)
        conn.commit()
        try:
            with Session(bind=conn) as session:
                yield session
        finally:
            conn.rollback()
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            conn.commit()
    engine.dispose()


def load(path: Path) -> tuple[list[ParsedDocument], list[Case]]:
    """One document per distinct answer; one case per distinct question."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["question"].strip() and r["answer"].strip()]
    sources: dict[str, str] = {}
    docs: list[ParsedDocument] = []
    answers: dict[str, set[str]] = {}
    references: dict[str, str] = {}
    for row in rows:
        answer = " ".join(row["answer"].split())
        source = sources.get(answer)
        # US FAQ: sourceName/sourceUrl; Beijing FAQ (../shared/data/zh): the answering department
        page = row.get("sourceUrl") or f"faq:{row.get('department_norm') or 'FAQ'}"
        title = row.get("sourceName") or row.get("department_norm") or "FAQ"
        if source is None:
            source = sources[answer] = f"{page.strip()}#answer-{len(sources) + 1}"
            docs.append(ParsedDocument(title=title.strip() or "FAQ", source=source,
                                       kind="csv", chunks=chunk_paragraphs(row["answer"])))
        question = " ".join(row["question"].split())
        answers.setdefault(question, set()).add(source)
        references.setdefault(question, row["answer"])
    cases = [Case(question=q, answers=frozenset(a), reference=references[q]) for q, a in answers.items()]
    return docs, cases


def load_questions(path: Path, language: str | None = None) -> list[str]:
    """The ``question`` column of a CSV (questions with no answer in the data); with
    ``language``, only the rows whose ``language`` column says so."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if "question" not in (reader.fieldnames or ()):
            raise ValueError(f"{path}: needs a 'question' column")
        return [" ".join(r["question"].split()) for r in reader if r["question"].strip()
                and (language is None or r.get("language", "") == language)]


def coverage(question: str, passage: str) -> float:
    """The share of the question's content words that occur in the passage, unweighted."""
    words = content_words(question)
    if not words:
        return 0.0
    plain = clean(passage).text.lower()
    return sum(word in plain for word in words) / len(words)


def f1(shown: str, reference: str) -> float:
    """Content-word F1 of ``shown`` against ``reference`` (English and Chinese)."""
    said, expected = content_words(shown), content_words(reference)
    common = len(said & expected)
    if not common:
        return 0.0
    precision, recall = common / len(said), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def _recall(db_session: Session, cases: list[Case], vectors: np.ndarray, embedder: Embedder,
            index: KbIndex, mode: Mode, ks: tuple[int, ...]) -> tuple[dict[int, float], tuple[float, float],
                                                                          list[list[Hit]]]:
    right = {k: 0 for k in ks}
    first = [0, 0]
    all_hits = []
    for number, (case, vector) in enumerate(zip(cases, vectors, strict=True)):
        hits = search(db_session=db_session, query=case.question, embedder=embedder, index=index,
                      k=max(ks), mode=mode, query_vector=vector)
        all_hits.append(hits)
        found = [h.source in case.answers for h in hits]
        for k in ks:
            right[k] += any(found[:k])
        first[number % 2] += any(found[:1])
    halves = (len(cases) - len(cases) // 2, len(cases) // 2)
    return ({k: right[k] / len(cases) for k in ks},
            (first[0] / max(1, halves[0]), first[1] / max(1, halves[1])), all_hits)


def evaluate(
    *, db_session: Session, docs: list[ParsedDocument], cases: list[Case], embedder: Embedder,
    chat: BaseChatModel | None, llm_sample: int, seed: int = 0, ks: tuple[int, ...] = (1, 5),
    off_topic: list[str] | None = None, progress: Callable[[str], None] = lambda _: None,
) -> Report:
    report = Report(questions=len(cases))
    report.documents, _ = add_documents(db_session=db_session, documents=docs, embedder=embedder)
    progress(f"indexed {report.documents} answers; embedding {len(cases)} questions")
    vectors = embedder.embed([c.question for c in cases])
    index = KbIndex().refresh(db_session)
    modes = [hotline_mode(c.question, embedder) for c in cases]
    report.retriever = max(MODES, key=modes.count)
    for mode in MODES:
        report.recall[mode], report.recall1_halves[mode], hits = _recall(
            db_session, cases, vectors, embedder, index, mode, ks)
        progress(f"{mode}: " + ", ".join(f"recall@{k} {v:.3f}" for k, v in report.recall[mode].items()))
        if mode == report.retriever:
            report.shown_f1 = _shown(cases, hits, embedder)
        if mode == HOTLINE_MODE:
            answerable = [h[0].answer_score if h else 0.0 for h in hits]
    report.baseline = majority_baseline(cases, ks)
    if off_topic:
        off_vectors = embedder.embed(off_topic)
        snapshot = index.snapshot(db_session)
        off = [float(np.max(snapshot.similarities(v))) if snapshot.ids.size else 0.0 for v in off_vectors]
        report.abstention = abstention(answerable, off, MIN_ANSWER_SCORE)
        if LEXICAL_MODE in modes:
            report.lexical_abstention, report.coverage_abstention = _lexical_abstention(
                db_session, cases, off_topic, embedder, index)
    if chat is not None and llm_sample > 0:
        _score_llm(report, db_session, cases, vectors, embedder, index, chat, llm_sample, seed, progress)
    return report


def majority_baseline(cases: list[Case], ks: tuple[int, ...]) -> dict[int, float]:
    """recall@k of answering every question with the k answers that answer most questions."""
    counts: dict[str, int] = {}
    for case in cases:
        for source in case.answers:
            counts[source] = counts.get(source, 0) + 1
    ranked = sorted(counts, key=lambda source: (-counts[source], source))
    return {k: sum(bool(case.answers & set(ranked[:k])) for case in cases) / max(1, len(cases))
            for k in ks}


def _lexical_abstention(db_session: Session, cases: list[Case], off_topic: list[str], embedder: Embedder,
                        index: KbIndex) -> tuple[Abstention, Abstention]:
    """Abstention where the hotline searches by BM25 (the questions its model cannot read,
    and every off-topic question): on the top hit's weighted coverage (the hotline's) and
    on its plain coverage (before)."""
    questions = [c.question for c in cases if hotline_mode(c.question, embedder) == LEXICAL_MODE]
    tops = {}
    for question in {*questions, *off_topic}:
        hits = search(db_session=db_session, query=question, embedder=embedder, index=index, k=1,
                      mode=LEXICAL_MODE)
        tops[question] = (hits[0].answer_score, coverage(question, hits[0].text)) if hits else (0.0, 0.0)
    return (abstention([tops[q][0] for q in questions], [tops[q][0] for q in off_topic], MIN_LEXICAL_SCORE),
            abstention([tops[q][1] for q in questions], [tops[q][1] for q in off_topic], MIN_ANSWER_SCORE))


def _shown(cases: list[Case], hits: list[list[Hit]], embedder: Embedder) -> dict[str, float]:
    """Mean F1 of the shown text: the whole top passage, and the answer span of it. Every
    text the spans need is embedded once, in one batch."""
    tops = [found[0].text if found else "" for found in hits]
    needed = {case.question for case in cases}
    for top in tops:
        for unit in units(top):
            needed |= {unit.sentence, f"{unit.heading}: {unit.sentence}"}
    ordered = sorted(needed)
    cache = dict(zip(ordered, embedder.embed(ordered), strict=True))

    def embed(texts: Sequence[str]) -> NDArray[np.float32]:
        return np.stack([cache[text] for text in texts])

    passage = [f1(top, case.reference) for case, top in zip(cases, tops, strict=True)]
    # as the hotline does: sentence embeddings where the model reads the question, else words
    span = [f1(answer_span(case.question, top, embed=embed if reads_text(embedder, case.question) else None)
               if top else "", case.reference) for case, top in zip(cases, tops, strict=True)]
    return {"passage": float(np.mean(passage)), "span": float(np.mean(span))}


def _score_llm(report: Report, db_session: Session, cases: list[Case], vectors: np.ndarray,
               embedder: Embedder, index: KbIndex, chat: BaseChatModel, n: int, seed: int,
               progress: Callable[[str], None]) -> None:
    sample = random.Random(seed).sample(range(len(cases)), min(n, len(cases)))
    report.llm_sample = len(sample)
    for done, i in enumerate(sample, start=1):
        hits = search(db_session=db_session, query=cases[i].question, embedder=embedder, index=index,
                      k=3, mode=report.retriever, query_vector=vectors[i])
        passages = [Passage(title=h.title, source=h.source, text=h.text, score=h.answer_score,
                            measure=h.measure) for h in hits]
        report.top1_right_on_sample += bool(passages) and passages[0].source in cases[i].answers
        try:
            chosen, draft = choose_and_draft(chat, cases[i].question, passages, 160)
        except LLMUnavailable:
            report.llm_errors += 1
            continue
        report.llm_right += passages[chosen].source in cases[i].answers
        report.llm_grounded += grounded(draft, passages[chosen].text)
        if done % 10 == 0:
            progress(f"{done} LLM calls")


def as_json(report: Report) -> dict[str, Any]:
    """The figures as one JSON object; the top-level recall is the hotline's retriever's."""
    out: dict[str, Any] = {
        "documents": report.documents, "questions": report.questions, "retriever": report.retriever,
        "recall_at_1": report.recall[report.retriever][1], "recall_at_5": report.recall[report.retriever][5],
        "by_retriever": {mode: {"recall_at_1": r[1], "recall_at_5": r[5],
                                "recall_at_1_even_odd": list(report.recall1_halves[mode])}
                         for mode, r in report.recall.items()},
        "shown_text_f1": report.shown_f1,
    }
    out["baseline_most_answered"] = {"recall_at_1": report.baseline.get(1),
                                      "recall_at_5": report.baseline.get(5)}
    if report.abstention is not None:
        out["abstention"] = report.abstention.as_json()
    if report.lexical_abstention is not None:
        out["lexical_abstention"] = report.lexical_abstention.as_json()
    if report.coverage_abstention is not None:
        out["coverage_abstention"] = report.coverage_abstention.as_json()
    if report.experiments:
        out["experiments"] = {name: {"recall_at_1": r[1], "recall_at_5": r[5]}
                              for name, r in report.experiments.items()}
    if report.llm_sample:
        out["llm"] = {"sample": report.llm_sample, "right_citation": report.llm_right,
                      "retrieval_top1_right": report.top1_right_on_sample,
                      "grounded": report.llm_grounded, "errors": report.llm_errors}
    return out


def format_report(report: Report, *, model: str) -> str:
    ks = sorted(next(iter(report.recall.values())).keys()) if report.recall else []
    lines = [f"{report.documents} answers indexed, {report.questions} questions asked",
             "", f"{'retrieval':<10}" + "".join(f"{'recall@' + str(k):>11}" for k in ks)
             + "   recall@1 even/odd questions"]
    for mode, recall in report.recall.items():
        even, odd = report.recall1_halves.get(mode, (float("nan"), float("nan")))
        mark = "   <- the hotline's" if mode == report.retriever else ""
        lines.append(f"{mode:<10}" + "".join(f"{recall[k]:>11.3f}" for k in ks)
                     + f"   {even:.3f} / {odd:.3f}{mark}")
    if report.baseline:
        lines.append(f"{'baseline':<10}" + "".join(f"{report.baseline[k]:>11.3f}" for k in ks)
                     + "   (the most-answered answers for every question)")
    if report.shown_f1:
        lines += ["", f"shown text vs the reference answer (content-word F1, {report.retriever} top 1): "
                  f"whole passage {report.shown_f1['passage']:.3f}, answer span {report.shown_f1['span']:.3f}"]
    for name, recall in report.experiments.items():
        if name == next(iter(report.experiments)):
            lines += ["", "retrieval experiments (in-process, same embedder):"]
        lines.append(f"  {name:<34}" + "".join(f"{recall[k]:>11.3f}" for k in ks))
    if report.abstention is not None:
        lines += ["", *report.abstention.lines()]
    if report.lexical_abstention is not None:
        lines += ["", "questions the embedding model cannot read (BM25, weighted coverage: the hotline's):",
                  *report.lexical_abstention.lines()]
    if report.coverage_abstention is not None:
        lines += ["", "the same on plain coverage (the hotline's score before):",
                  *report.coverage_abstention.lines()]
    if report.llm_sample:
        n = report.llm_sample
        lines += ["", f"citations on a sample of {n} questions ({report.retriever} top 3 -> {model}):",
                  f"  right citation, LLM's choice:      {report.llm_right}/{n} = {report.llm_right / n:.3f}",
                  f"  right citation, retrieval's top 1: {report.top1_right_on_sample}/{n} = "
                  f"{report.top1_right_on_sample / n:.3f}",
                  f"  LLM draft grounded in its passage: {report.llm_grounded}/{n}",
                  f"  LLM calls failed:                  {report.llm_errors}/{n}"]
    return "\n".join(lines)


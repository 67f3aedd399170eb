"""Retrieval and citation quality of the hotline on a public Q&A set (US government FAQs).

Every answer is indexed as a document cited by its page URL; every question is asked; a
hit is right when its document's URL is the question's own page.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from langchain_core.language_models import BaseChatModel
from sqlalchemy.orm import Session

from agents.errors import LLMUnavailable
from agents.hotline import Passage, choose_and_draft, grounded
from dispatch.kb import HOTLINE_MODE, Mode, VectorIndex, add_documents, search
from dispatch.kb_embed import Embedder
from dispatch.kb_parse import ParsedDocument, chunk_paragraphs

MODES: tuple[Mode, ...] = ("fulltext", "vector", "hybrid")


@dataclass(frozen=True)
class Case:
    question: str
    source: str


@dataclass
class Report:
    documents: int = 0
    questions: int = 0
    recall: dict[Mode, dict[int, float]] = field(default_factory=dict)
    recall1_halves: dict[Mode, tuple[float, float]] = field(default_factory=dict)
    """recall@1 on the even- and the odd-numbered questions: a choice made on one half holds on the other"""
    llm_sample: int = 0
    llm_right: int = 0
    llm_grounded: int = 0
    llm_errors: int = 0
    top1_right_on_sample: int = 0


def load(path: Path) -> tuple[list[ParsedDocument], list[Case]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["question"].strip() and r["answer"].strip()]
    docs = [ParsedDocument(title=r["sourceName"].strip() or "FAQ", source=r["sourceUrl"].strip(),
                           kind="csv", chunks=chunk_paragraphs(r["answer"])) for r in rows]
    cases = [Case(question=" ".join(r["question"].split()), source=r["sourceUrl"].strip()) for r in rows]
    return docs, cases


def evaluate(
    *, db_session: Session, docs: list[ParsedDocument], cases: list[Case], embedder: Embedder,
    chat: BaseChatModel | None, llm_sample: int, seed: int = 0, ks: tuple[int, ...] = (1, 5),
    progress: Callable[[str], None] = lambda _: None,
) -> Report:
    report = Report(questions=len(cases))
    report.documents, _ = add_documents(db_session=db_session, documents=docs, embedder=embedder)
    progress(f"indexed {report.documents} answers; embedding {len(cases)} questions")
    vectors = embedder.embed([c.question for c in cases])
    index = VectorIndex().refresh(db_session)
    for mode in MODES:
        right = {k: 0 for k in ks}
        first = [0, 0]
        for number, (case, vector) in enumerate(zip(cases, vectors, strict=True)):
            hits = search(db_session=db_session, query=case.question, embedder=embedder, index=index,
                          k=max(ks), mode=mode, query_vector=vector)
            sources = [h.source for h in hits]
            for k in ks:
                right[k] += case.source in sources[:k]
            first[number % 2] += case.source in sources[:1]
        report.recall[mode] = {k: right[k] / len(cases) for k in ks}
        halves = (len(cases) - len(cases) // 2, len(cases) // 2)
        report.recall1_halves[mode] = (first[0] / max(1, halves[0]), first[1] / max(1, halves[1]))
        progress(f"{mode}: " + ", ".join(f"recall@{k} {v:.3f}" for k, v in report.recall[mode].items()))
    if chat is not None and llm_sample > 0:
        _score_llm(report, db_session, cases, vectors, embedder, index, chat, llm_sample, seed, progress)
    return report


def _score_llm(report: Report, db_session: Session, cases: list[Case], vectors: np.ndarray,
               embedder: Embedder, index: VectorIndex, chat: BaseChatModel, n: int, seed: int,
               progress: Callable[[str], None]) -> None:
    sample = random.Random(seed).sample(range(len(cases)), min(n, len(cases)))
    report.llm_sample = len(sample)
    for done, i in enumerate(sample, start=1):
        hits = search(db_session=db_session, query=cases[i].question, embedder=embedder, index=index,
                      k=3, mode=HOTLINE_MODE, query_vector=vectors[i])
        passages = [Passage(title=h.title, source=h.source, text=h.text, score=h.cosine) for h in hits]
        report.top1_right_on_sample += bool(passages) and passages[0].source == cases[i].source
        try:
            chosen, draft = choose_and_draft(chat, cases[i].question, passages, 160)
        except LLMUnavailable:
            report.llm_errors += 1
            continue
        report.llm_right += passages[chosen].source == cases[i].source
        report.llm_grounded += grounded(draft, passages[chosen].text)
        if done % 10 == 0:
            progress(f"{done} LLM calls")


def format_report(report: Report, *, model: str) -> str:
    ks = sorted(next(iter(report.recall.values())).keys()) if report.recall else []
    lines = [f"{report.documents} answers indexed, {report.questions} questions asked",
             "", f"{'retrieval':<10}" + "".join(f"{'recall@' + str(k):>11}" for k in ks)
             + "   recall@1 even/odd questions"]
    for mode, recall in report.recall.items():
        even, odd = report.recall1_halves.get(mode, (float("nan"), float("nan")))
        mark = "   <- the hotline's" if mode == HOTLINE_MODE else ""
        lines.append(f"{mode:<10}" + "".join(f"{recall[k]:>11.3f}" for k in ks)
                     + f"   {even:.3f} / {odd:.3f}{mark}")
    if report.llm_sample:
        n = report.llm_sample
        lines += ["", f"citations on a sample of {n} questions ({HOTLINE_MODE} top 3 -> {model}):",
                  f"  right citation, LLM's choice:      {report.llm_right}/{n} = {report.llm_right / n:.3f}",
                  f"  right citation, retrieval's top 1: {report.top1_right_on_sample}/{n} = "
                  f"{report.top1_right_on_sample / n:.3f}",
                  f"  LLM draft grounded in its passage: {report.llm_grounded}/{n}",
                  f"  LLM calls failed:                  {report.llm_errors}/{n}"]
    return "\n".join(lines)

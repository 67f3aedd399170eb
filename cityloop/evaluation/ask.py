"""How well questions in plain words become the right filters ("Ask the city").

The bundled sets (``data/ask_questions*.jsonl``) hold questions written for the sample cities
— Riverton in English and in Chinese, 江城 in Chinese — each with its gold filters. A file's
first line names its city and the "now" its time words are read against. Each question is
marked ``dev`` (the first half of each language in each file: the parser was tuned on these
only), ``test`` (the second half, held out) or ``fresh`` (written after the parser, in a
looser style, and never tuned on). Scored: exact match of each filter field, and of the whole
filter set, per language and split; the rules parser always, the LLM parser when asked.

Lists compare as sets; moments as instants; the text as its set of stemmed content words
(``agents.text``), so "white van" equals "van, white".
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from agents.ask import AskFilters, parse_question, parse_with_llm
from agents.embeddings import Embedder
from agents.errors import LLMUnavailable
from agents.text import STOPWORDS, stem, tokens
from cityloop.evaluation.scoring import percent
from dispatch.ask.vocabulary import vocabulary_of
from dispatch.city.config import CityConfig

DATA_DIR = Path(__file__).resolve().parent / "data"
DATA_FILES = (DATA_DIR / "ask_questions.jsonl", DATA_DIR / "ask_questions_jiangcheng.jsonl",
              DATA_DIR / "ask_questions_fresh.jsonl")
SPLITS = ("dev", "test", "fresh")
FIELDS = ("categories", "districts", "agencies", "statuses", "since", "until", "near", "overdue",
          "text")
WHOLE = "whole"
Parser = Callable[["Question"], AskFilters]


class EvaluationError(Exception):
    """A question file cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Question:
    id: str
    lang: str
    split: str
    city: str
    q: str
    gold: AskFilters
    now: datetime


def load_questions(paths: Iterable[Path]) -> list[Question]:
    out: list[Question] = []
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()
        number = 1
        try:
            head = json.loads(lines[0])
            now = datetime.fromisoformat(head["now"])
            for number, line in enumerate(lines[1:], start=2):  # noqa: B007  (named in errors)
                if line.strip():
                    row = json.loads(line)
                    out.append(Question(id=row["id"], lang=row["lang"], split=row["split"],
                                        city=head["city"], q=row["q"], now=now,
                                        gold=AskFilters.model_validate(row["gold"])))
        except (IndexError, KeyError, ValueError) as exc:
            raise EvaluationError(f"{path}: line {number}: {exc}") from None
    return out


def _text_words(text: str | None) -> list[str] | None:
    words = sorted({stem(t) for t in tokens(text or "") if t not in STOPWORDS})
    return words or None


def comparable(filters: AskFilters) -> dict[str, Any]:
    """The filters in the form two answers are compared in."""
    return {
        "categories": sorted(filters.categories), "districts": sorted(filters.districts),
        "agencies": sorted(filters.agencies), "statuses": sorted(filters.statuses),
        "since": filters.since.timestamp() if filters.since else None,
        "until": filters.until.timestamp() if filters.until else None,
        "near": filters.near.model_dump() if filters.near else None,
        "overdue": filters.overdue, "text": _text_words(filters.text)}


@dataclass
class Tally:
    n: int = 0
    right: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*FIELDS, WHOLE), 0))

    def add(self, matches: dict[str, bool]) -> None:
        self.n += 1
        for name, ok in matches.items():
            self.right[name] += ok

    def share(self, name: str = WHOLE) -> float | None:
        return self.right[name] / self.n if self.n else None


@dataclass
class Miss:
    parser: str
    id: str
    split: str
    q: str
    fields: dict[str, tuple[Any, Any]]  # field → (gold, answer)


@dataclass
class AskReport:
    tallies: dict[tuple[str, str, str], Tally] = field(default_factory=dict)
    """(parser, language, split) → tally; split "all" and language "all" are sums."""
    misses: list[Miss] = field(default_factory=list)
    llm_errors: int = 0
    llm_sample: int | None = None

    def tally(self, parser: str, lang: str, split: str) -> Tally:
        return self.tallies.setdefault((parser, lang, split), Tally())


def score(answer: AskFilters, gold: AskFilters) -> dict[str, bool]:
    mine, truth = comparable(answer), comparable(gold)
    matches = {name: mine[name] == truth[name] for name in FIELDS}
    matches[WHOLE] = all(matches.values())
    return matches


def evaluate(questions: Sequence[Question], parsers: dict[str, Parser],
             only: dict[str, set[str]] | None = None) -> AskReport:
    """Every parser on every question (``only[parser]``: the ids it is run on, if limited)."""
    report = AskReport()
    for name, parser in parsers.items():
        for question in questions:
            if only and name in only and question.id not in only[name]:
                continue
            answer = parser(question)
            matches = score(answer, question.gold)
            for lang in (question.lang, "all"):
                for split in (question.split, "all"):
                    report.tally(name, lang, split).add(matches)
            if not matches[WHOLE]:
                mine, truth = comparable(answer), comparable(question.gold)
                report.misses.append(Miss(name, question.id, question.split, question.q, {
                    f: (truth[f], mine[f]) for f in FIELDS if not matches[f]}))
    return report


def rules_parser(cities: dict[str, CityConfig], embedder: Embedder | None) -> Parser:
    def parse(question: Question) -> AskFilters:
        vocabulary = vocabulary_of(cities[question.city])
        return parse_question(question.q, vocabulary, now=question.now, embedder=embedder).filters

    return parse


def search_box_parser(question: Question) -> AskFilters:
    """The trivial baseline: no filters, the whole question as full-text search (what the
    inbox's search box does with it)."""
    return AskFilters(text=question.q)


def llm_parser(cities: dict[str, CityConfig], chat: Any, report_errors: list[int]) -> Parser:
    """The LLM alone: a failed call answers empty filters (and is counted)."""

    def parse(question: Question) -> AskFilters:
        vocabulary = vocabulary_of(cities[question.city])
        try:
            return parse_with_llm(question.q, vocabulary, chat=chat, now=question.now).filters
        except LLMUnavailable:
            report_errors.append(1)
            return AskFilters()

    return parse


def sample_ids(questions: Sequence[Question], size: int, seed: int) -> set[str]:
    ids = [q.id for q in questions]
    return set(random.Random(seed).sample(ids, min(size, len(ids))))


def _cell(tally: Tally | None, name: str) -> str:
    return percent(tally.right[name], tally.n) if tally and tally.n else "-"


def format_report(report: AskReport, *, show_misses: Literal["dev", "all", "none"] = "dev") -> str:
    """A table per parser: rows language × split, columns whole-filter match and each field;
    then the questions missed (by default those of the dev split only: the test split is
    held out, its misses are counted, not read)."""
    lines: list[str] = []
    parsers = sorted({key[0] for key in report.tallies}, key=lambda p: (p != "rules", p))
    for parser in parsers:
        lines.append(f"\n{parser}: whole-filter and per-field exact match")
        header = f"{'language':9}{'split':6}{'n':>5}  {'whole':>10}  " + "  ".join(
            f"{name:>10}" for name in FIELDS)
        lines.append(header)
        for lang in ("en", "zh", "all"):
            for split in (*SPLITS, "all"):
                tally = report.tallies.get((parser, lang, split))
                if tally is None or not tally.n:
                    continue
                lines.append(f"{lang:9}{split:6}{tally.n:5}  {_cell(tally, WHOLE):>10}  "
                             + "  ".join(f"{_cell(tally, name):>10}" for name in FIELDS))
    if report.llm_sample is not None:
        lines.append(f"\nLLM: {report.llm_sample} questions sampled; {report.llm_errors} calls "
                     "failed (answered as no filters)")
    shown = [m for m in report.misses
             if show_misses == "all" or (show_misses == "dev" and m.split == "dev")]
    if shown:
        lines.append(f"\nmisses ({show_misses} split):")
        lines.extend(f"  [{m.parser}] {m.id} {m.q!r}: " + "; ".join(
            f"{name} gold={gold!r} got={got!r}" for name, (gold, got) in m.fields.items())
            for m in shown)
    return "\n".join(lines)


def as_json(report: AskReport) -> dict[str, Any]:
    return {
        "fields": list(FIELDS),
        "results": [{"parser": parser, "language": lang, "split": split, "n": tally.n,
                     "whole": tally.share(), **{name: tally.share(name) for name in FIELDS}}
                    for (parser, lang, split), tally in sorted(report.tallies.items())],
        "misses": [{"parser": m.parser, "id": m.id, "split": m.split, "q": m.q,
                    "fields": {name: {"gold": gold, "got": got}
                               for name, (gold, got) in m.fields.items()}}
                   for m in report.misses],
        "llm_sample": report.llm_sample, "llm_errors": report.llm_errors,
    }

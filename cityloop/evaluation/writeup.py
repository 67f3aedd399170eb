"""What the incident writer shows, checked: invented content dropped, titles and flags.

The writer runs on report texts (311 extracts: the request type and the citizen's
descriptor; or a ``text,category[,address][,expected_flags]`` CSV such as the bundled
adversarial set). Each LLM draft is passed through two checks on the same draft:

- before: the check this project had (``claims``: only numbers and date words compared);
- after: the support check (``agents.grounding``: claims and content words).

For each: the share of generated description sentences dropped, the share of write-ups
that kept the LLM's title, and an independent count of unsupported content words per
write-up: the content words of the shown title and description that are not in the
report, address, district or category name (stricter than either check: the category's
vocabulary and record words count as unsupported here).

The checkers themselves are compared on labelled sentences (``data/grounding_sentences.csv``):
content-word support, MiniLM similarity of the sentence to the report (threshold chosen
on the even rows, scored on the odd), and both.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel

from agents.embeddings import Embedder
from agents.errors import LLMUnavailable
from agents.grounding import SENTENCE_END, claims_in
from agents.text import clean, content_words, split_sentences
from agents.writer import EventFacts, draft_incident, fact_support, fallback_title, supported_writeup
from cityloop.evaluation.abstention import calibrate
from cityloop.evaluation.classify311 import detect_layout, truth_category
from dispatch.city.config import CityConfig
from dispatch.incidents.flows import category_specs
from dispatch.intake.service import intake_flags

SENTENCES_FILE = Path(__file__).resolve().parent / "data" / "grounding_sentences.csv"
ADVERSARIAL_FILE = Path(__file__).resolve().parent / "data" / "adversarial_reports.csv"
CHECKS = ("before", "after")


class EvaluationError(Exception):
    """The data cannot be evaluated; the message says why."""


@dataclass(frozen=True)
class ReportRow:
    text: str
    category: str
    address: str | None = None
    expected_flags: frozenset[str] | None = None


@dataclass
class CheckFigures:
    sentences: int = 0
    dropped: int = 0
    titles_kept: int = 0
    unsupported_words: int = 0
    writeups_with_unsupported: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class WriteupReport:
    rows: int = 0
    drafts: int = 0
    llm_errors: int = 0
    actions_from_list: int = 0
    checks: dict[str, CheckFigures] = field(default_factory=lambda: {c: CheckFigures() for c in CHECKS})
    flags_expected: int = 0
    flags_right: int = 0
    flag_misses: list[str] = field(default_factory=list)
    checkers: dict[str, dict[str, float]] = field(default_factory=dict)
    model: str | None = None


def load_reports(path: Path, city: CityConfig) -> tuple[list[ReportRow], str]:
    """The rows of a labelled CSV or a 311 extract, and the layout's name."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise EvaluationError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        if {"text", "category"} <= set(header):
            codes = {c.code for c in city.categories}
            return [ReportRow(text=r["text"], category=r["category"] if r["category"] in codes
                              else city.fallback_category, address=(r.get("address") or None),
                              expected_flags=frozenset(filter(None, r["expected_flags"].split(";")))
                              if "expected_flags" in r else None)
                    for r in reader if r["text"].strip()], "labelled"
        try:
            layout = detect_layout(header)
        except Exception as exc:
            raise EvaluationError(f"{path}: {exc}") from None
        specs = category_specs(city)
        rows = []
        for r in reader:
            kind = ": ".join(r[c].strip() for c in layout.type_columns if r[c].strip())
            said = " ".join(r[c].strip() for c in layout.text_columns if r[c].strip())
            text = kind if not said or said.lower() in kind.lower() else f"{kind}: {said}"
            address = (r.get("incident_address") or r.get("borough") or "").strip().title() or None
            rows.append(ReportRow(text=text, category=truth_category(kind, specs, city.fallback_category),
                                  address=address))
        return rows, layout.name


def facts_for(row: ReportRow, city: CityConfig, source: str) -> EventFacts:
    """The writer's facts for a row, as the understand flow builds them."""
    category = city.category(row.category)
    return EventFacts(
        description=clean(row.text).text, source=source, category=row.category,
        category_name=category.name if category else row.category, address=row.address,
        vocabulary=[category.description, *category.keywords, *category.detector_prompts] if category else [],
        actions=list(category.actions) if category else [])


def claims_only(draft: dict[str, str], facts: EventFacts) -> tuple[str, str, list[str], bool]:
    """The check this project had: (title, description, dropped sentences, LLM title kept),
    numbers and date words only."""
    allowed = fact_support(facts).claims
    kept: list[str] = []
    dropped: list[str] = []
    for sentence in SENTENCE_END.split(draft["description"].strip()):
        if sentence:
            (kept if claims_in(sentence) <= allowed else dropped).append(sentence)
    title = " ".join(draft["title"].split())
    title_kept = bool(title) and claims_in(title) <= allowed
    return (title if title_kept else fallback_title(facts), " ".join(kept) or facts.description,
            dropped, title_kept)


def unsupported_words(shown: str, row: ReportRow, facts: EventFacts) -> set[str]:
    """Content words of ``shown`` that are not in the report, address, district or category name."""
    said = content_words(" ".join(filter(None, [row.text, row.address, facts.district,
                                                 facts.category_name])))
    return content_words(shown) - said


def _tally(figures: CheckFigures, *, sentences: int, dropped: int, title_kept: bool, shown: str,
           row: ReportRow, facts: EventFacts) -> None:
    figures.sentences += sentences
    figures.dropped += dropped
    figures.titles_kept += title_kept
    words = unsupported_words(shown, row, facts)
    figures.unsupported_words += len(words)
    figures.writeups_with_unsupported += bool(words)
    if words and len(figures.examples) < 5:
        figures.examples.append(f"{sorted(words)[:6]} in {shown[:110]!r}")


def evaluate(rows: list[ReportRow], city: CityConfig, *, chat: BaseChatModel | None, sample: list[int],
             source: str, progress: Callable[[int], None] = lambda _: None) -> WriteupReport:
    report = WriteupReport(rows=len(rows))
    for row in rows:
        if row.expected_flags is not None:
            report.flags_expected += 1
            got = frozenset(intake_flags(row.text))
            report.flags_right += got == row.expected_flags
            if got != row.expected_flags:
                report.flag_misses.append(f"{sorted(got)} (expected {sorted(row.expected_flags)}): {row.text[:60]!r}")
    for done, index in enumerate(sample, start=1):
        row = rows[index]
        facts = facts_for(row, city, source)
        try:
            draft = draft_incident(chat, facts=facts) if chat is not None else None
        except LLMUnavailable:
            report.llm_errors += 1
            continue
        if draft is None:
            continue
        report.drafts += 1
        report.actions_from_list += " ".join(draft["recommended_action"].split()) in facts.actions
        title, description, dropped, kept = claims_only(draft, facts)
        n = len([s for s in SENTENCE_END.split(draft["description"].strip()) if s])
        _tally(report.checks["before"], sentences=n, dropped=len(dropped), title_kept=kept,
               shown=f"{title}. {description}", row=row, facts=facts)
        after = supported_writeup(draft, facts, None)
        _tally(report.checks["after"], sentences=after.llm_sentences, dropped=after.sentences_dropped,
               title_kept=after.llm_title, shown=f"{after.title}. {after.description}", row=row, facts=facts)
        progress(done)
    return report


def draw_sample(n_rows: int, size: int, seed: int) -> list[int]:
    return sorted(random.Random(seed).sample(range(n_rows), min(size, n_rows)))


# ---- the checkers on labelled sentences ---------------------------------------------------

@dataclass(frozen=True)
class LabelledSentence:
    report: str
    category: str
    address: str
    sentence: str
    supported: bool


def load_sentences(path: Path = SENTENCES_FILE) -> list[LabelledSentence]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [LabelledSentence(r["report"], r["category"], r["address"], r["sentence"], r["supported"] == "1")
                for r in csv.DictReader(handle)]


def _figures(predicted_unsupported: list[bool], rows: list[LabelledSentence]) -> dict[str, float]:
    truth = [not r.supported for r in rows]
    caught = sum(p and t for p, t in zip(predicted_unsupported, truth, strict=True))
    flagged, invented = sum(predicted_unsupported), sum(truth)
    right = sum(p == t for p, t in zip(predicted_unsupported, truth, strict=True))
    return {"accuracy": right / len(rows), "invented_caught": caught / max(1, invented),
            "supported_dropped": (flagged - caught) / max(1, len(rows) - invented),
            "precision": caught / max(1, flagged)}


def compare_checkers(rows: list[LabelledSentence], city: CityConfig, embedder: Embedder | None
                     ) -> dict[str, dict[str, float]]:
    """Each checker's figures on the odd-numbered rows (the similarity threshold is chosen on
    the even ones); ``words`` also on every row."""
    words = [not fact_support(facts_for(ReportRow(r.report, r.category, r.address or None), city, "web"))
             .supports(r.sentence) for r in rows]
    odd = rows[1::2]
    out = {"words (all rows)": _figures(words, rows), "words": _figures(words[1::2], odd)}
    if embedder is None:
        return out
    similarity = []
    for r in rows:
        pieces = [r.report, *split_sentences(r.report)]
        vectors = embedder.embed([r.sentence, *pieces])
        similarity.append(float(np.max(vectors[1:] @ vectors[0])))
    supported = [s for s, r in zip(similarity[0::2], rows[0::2], strict=True) if r.supported]
    invented = [s for s, r in zip(similarity[0::2], rows[0::2], strict=True) if not r.supported]
    threshold = calibrate(supported, invented)
    by_similarity = [s < threshold for s in similarity]
    out[f"similarity >= {threshold:.3f}"] = _figures(by_similarity[1::2], odd)
    out["both"] = _figures([a or b for a, b in zip(words[1::2], by_similarity[1::2], strict=True)], odd)
    return out


# ---- output -------------------------------------------------------------------------------

def _check_json(figures: CheckFigures, drafts: int) -> dict[str, Any]:
    return {"sentences": figures.sentences,
            "dropped_share": round(figures.dropped / max(1, figures.sentences), 4),
            "llm_title_kept_share": round(figures.titles_kept / max(1, drafts), 4),
            "unsupported_words_per_writeup": round(figures.unsupported_words / max(1, drafts), 3),
            "writeups_with_unsupported_words": round(figures.writeups_with_unsupported / max(1, drafts), 4)}


def as_json(report: WriteupReport) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rows": report.rows, "drafts": report.drafts, "llm_errors": report.llm_errors, "model": report.model,
        "actions_from_city_list_share": round(report.actions_from_list / max(1, report.drafts), 4),
        **{check: _check_json(report.checks[check], report.drafts) for check in CHECKS},
        "checkers": report.checkers}
    if report.flags_expected:
        out["flags_right_share"] = round(report.flags_right / report.flags_expected, 4)
    return out


def format_report(report: WriteupReport) -> str:
    data = as_json(report)
    lines = [f"{report.drafts} LLM drafts of {report.rows} rows ({report.llm_errors} calls failed); "
             f"model {report.model or 'none'}",
             f"drafts whose action was one of the city's: {data['actions_from_city_list_share']:.3f} "
             "(after: every shown action is)", "",
             f"{'check':<8}{'sentences':>10}{'dropped':>9}{'LLM title':>10}{'unsupported/write-up':>22}"
             f"{'write-ups with any':>20}"]
    for check in CHECKS:
        c = data[check]
        lines.append(f"{check:<8}{c['sentences']:>10}{c['dropped_share']:>9.3f}{c['llm_title_kept_share']:>10.3f}"
                     f"{c['unsupported_words_per_writeup']:>22.2f}{c['writeups_with_unsupported_words']:>20.3f}")
    for check in CHECKS:
        for example in report.checks[check].examples[:3]:
            lines.append(f"  {check}: {example}")
    if report.flags_expected:
        lines += ["", f"intake flags as expected: {report.flags_right}/{report.flags_expected}",
                  *[f"  {miss}" for miss in report.flag_misses]]
    if report.checkers:
        lines += ["", "checkers on labelled sentences (odd rows; similarity threshold from the even rows):",
                  f"  {'checker':<24}{'accuracy':>9}{'invented caught':>17}{'supported dropped':>19}"]
        for name, f in report.checkers.items():
            lines.append(f"  {name:<24}{f['accuracy']:>9.3f}{f['invented_caught']:>17.3f}"
                         f"{f['supported_dropped']:>19.3f}")
    return "\n".join(lines)

"""How often the dispatcher picks the agency a real city picked, per category.

Each row of a 311 extract becomes what a citizen would have told us (the request type
and its descriptor, never the agency column), is classified with the city's category
keywords exactly as the pipeline's keyword stage does, and is routed by the city's rules
alone, and on a sample by rules plus the LLM. Beside each accuracy stands the ceiling:
the accuracy of always answering the most frequent agency for the same visible text,
the best any router that sees only that text can do on these rows.
"""

from __future__ import annotations

import csv
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from langchain_core.language_models import BaseChatModel

from agents import AgencySpec, LLMUnavailable, choose_agency, classify_keywords
from dispatch.city.config import CityConfig
from dispatch.city.routing import RoutingInput, route_by_config
from dispatch.incidents.flows import category_specs
from dispatch.learning.history_files import BadRow, ColumnMap, HistoryFileError, read_history
from dispatch.learning.history_values import BadValue, read_datetime

_BLANK = {"", "n/a", "na", "none"}


class EvaluationError(Exception):
    """The data cannot be evaluated (missing file or columns); the message says why."""


@dataclass(frozen=True)
class CsvFormat:
    """Which columns of an extract hold what. Only ``text_columns`` reach the router."""

    name: str
    agency_column: str
    text_columns: tuple[str, ...]
    time_column: str = "created_date"
    lat_column: str = "latitude"
    lon_column: str = "longitude"


NYC_FORMAT = CsvFormat("nyc311", "agency", ("complaint_type", "descriptor"))
# SF311's status_notes are written by the department after it got the case ("transferred
# to ...", "call Police Non-Emergency"): they would leak the answer, so they stay out.
SF_FORMAT = CsvFormat("sf311", "agency_name", ("category", "complaint_type", "descriptor"))


def detect_format(header: Iterable[str]) -> CsvFormat:
    columns = set(header)
    for fmt in (SF_FORMAT, NYC_FORMAT):
        needed = {fmt.agency_column, *fmt.text_columns, fmt.time_column}
        if needed <= columns:
            return fmt
    raise EvaluationError(
        "unknown CSV layout: need the columns agency, complaint_type, descriptor, created_date "
        "(NYC 311) or agency_name, category, complaint_type, descriptor, created_date (SF311)"
    )


@dataclass(frozen=True)
class Case:
    """One request as the router sees it, plus the agency the city chose."""

    category: str
    text: str
    district: str | None
    at: datetime
    truth: str
    line: int = 0  # in the source file (the hash split's key)

    @property
    def visible(self) -> tuple[str, str]:
        return self.category, self.text


@dataclass(frozen=True)
class LoadedCases:
    cases: list[Case]
    unmapped: Counter[str]  # agency names the city file does not know, with their row counts
    bad_rows: int


def citizen_text(row: dict[str, str], columns: tuple[str, ...]) -> str:
    parts = [" ".join((row.get(c) or "").replace("_", " ").split()) for c in columns]
    return ": ".join(p for p in parts if p.lower() not in _BLANK)


def _parse_time(value: str, tz: ZoneInfo) -> datetime | None:
    """A date in any common format (``history_values``); one without a zone is the city's time."""
    naive = value.strip() and not value.strip().upper().endswith(("UTC", "GMT", "Z")) and "+" not in value[10:]
    try:
        parsed = read_datetime("created_date", value, None)
    except BadValue:
        return None
    if parsed is not None and naive:
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def _district(city: CityConfig, row: dict[str, str], fmt: CsvFormat) -> str | None:
    try:
        lat, lon = float(row[fmt.lat_column]), float(row[fmt.lon_column])
    except (KeyError, TypeError, ValueError):
        return None
    found = city.district_at(lat, lon)
    return found.code if found else None


def case_category(city: CityConfig, request_type: str | None, text: str) -> str:
    """The category a request is filed under: the exact ``service_types`` mapping of its type,
    else the city's category keywords on the visible text, else the fallback category."""
    code = city.category_for_type(request_type) if request_type else None
    if code is not None:
        return code
    match = classify_keywords(text, category_specs(city))
    return match[0] if match else city.fallback_category


def load_mapped_cases(path: Path, city: CityConfig, column_map: ColumnMap,
                      date_format: str | None = None) -> LoadedCases:
    """Any layout, through a column map (``text=``, ``agency=``, and ``category=`` for the
    request type, ``created_at=``, ``district=`` by name or ``lat=``/``lon=``)."""
    if column_map.agency is None:
        raise EvaluationError("--map: the routing evaluation needs agency=COLUMN")
    cases: list[Case] = []
    unmapped: Counter[str] = Counter()
    bad_rows = 0
    try:
        for row in read_history(path, column_map, date_format=date_format):
            if isinstance(row, BadRow) or not row.agency:
                bad_rows += 1
                continue
            truth = city.agency_for_name(row.agency)
            if truth is None:
                unmapped[row.agency] += 1
                continue
            text = f"{row.category}: {row.text}" if row.category else row.text
            district = city.district_by_name(row.district) if row.district else None
            if district is None and row.lat is not None and row.lon is not None:
                district = city.district_at(row.lat, row.lon)
            at = row.created_at or datetime.now(UTC)
            cases.append(Case(case_category(city, row.category, text), text,
                              district.code if district else None, at, truth, row.line))
    except HistoryFileError as exc:
        raise EvaluationError(str(exc)) from None
    return LoadedCases(cases, unmapped, bad_rows)


def load_cases(path: Path, city: CityConfig) -> LoadedCases:
    """Read a NYC or SF extract; classify each row with the city's category keywords; the
    agency names are read through the city file (code, name, ``aliases``)."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise EvaluationError(f"{path}: cannot read: {exc.strerror}") from None
    specs = category_specs(city)
    tz = ZoneInfo(city.city.timezone)
    cases: list[Case] = []
    unmapped: Counter[str] = Counter()
    bad_rows = 0
    with handle:
        reader = csv.DictReader(handle)
        fmt = detect_format(reader.fieldnames or [])
        end = reader.line_num
        for row in reader:
            line, end = end + 1, reader.line_num
            name = (row.get(fmt.agency_column) or "").strip()
            text = citizen_text(row, fmt.text_columns)
            at = _parse_time(row.get(fmt.time_column) or "", tz)
            if not name or not text or at is None:
                bad_rows += 1
                continue
            truth = city.agency_for_name(name)
            if truth is None:
                unmapped[name] += 1
                continue
            match = classify_keywords(text, specs)
            category = match[0] if match else city.fallback_category
            cases.append(Case(category, text, _district(city, row, fmt), at, truth, line))
    return LoadedCases(cases, unmapped, bad_rows)


def rules_agency(city: CityConfig, case: Case) -> str | None:
    """The agency the city file decides: a rule, else the category's default agency."""
    item = RoutingInput(category=case.category, district=case.district, text=case.text,
                        at=case.at)
    decided = route_by_config(city, item)
    return decided.agency if decided else None


def majority_agencies(cases: list[Case]) -> dict[tuple[str, str], str]:
    """The most frequent agency for each visible (category, text); the ceiling's answers."""
    by_visible: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for case in cases:
        by_visible[case.visible][case.truth] += 1
    return {key: counts.most_common(1)[0][0] for key, counts in by_visible.items()}


# An LLM router: the case -> (agency or None when the LLM failed, below threshold?).
Chooser = Callable[[Case], tuple[str | None, bool]]


def llm_chooser(chat: BaseChatModel, city: CityConfig) -> Chooser:
    """The pipeline's fallback: the LLM picks among every configured agency."""
    specs = [AgencySpec(code=a.code, name=a.name, description=a.description)
             for a in city.agencies]
    threshold = city.routing.llm_confidence_threshold

    def choose(case: Case) -> tuple[str | None, bool]:
        try:
            choice = choose_agency(chat, text=case.text, category=case.category, agencies=specs)
        except LLMUnavailable:
            return None, False
        return choice.agency, choice.confidence < threshold

    return choose


@dataclass
class Tally:
    n: int = 0
    rules: int = 0
    no_rule: int = 0
    ceiling: int = 0
    sample: int = 0
    sample_rules: int = 0
    sample_llm: int = 0
    sample_ceiling: int = 0
    llm_calls: int = 0
    llm_failed: int = 0
    llm_low_confidence: int = 0

    def add(self, other: Tally) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass(frozen=True)
class RoutingReport:
    by_category: dict[str, Tally]
    total: Tally
    unmapped: Counter[str]
    bad_rows: int


def undecided_indices(city: CityConfig, cases: list[Case]) -> list[int]:
    """The cases no rule decides: the only ones where the LLM changes the answer."""
    return [i for i, case in enumerate(cases) if rules_agency(city, case) is None]


def sample_indices(population: list[int], size: int, seed: int) -> set[int]:
    return set(random.Random(seed).sample(population, min(size, len(population))))


def extrapolated_llm_accuracy(report: RoutingReport) -> float | None:
    """Rules+LLM over every row, when the sample was drawn from the undecided rows."""
    total = report.total
    if not total.n or not total.sample:
        return None
    llm_rate = total.sample_llm / total.sample
    return (total.rules + total.no_rule * llm_rate) / total.n


def evaluate(
    city: CityConfig, loaded: LoadedCases, *, chooser: Chooser | None = None,
    sample: set[int] | None = None, progress: Callable[[int], None] | None = None,
) -> RoutingReport:
    """Score rules on every case and rules+LLM on ``sample`` (indices into the cases)."""
    cases = loaded.cases
    majority = majority_agencies(cases)
    sample = sample if chooser is not None and sample is not None else set()
    by_category: dict[str, Tally] = defaultdict(Tally)
    for index, case in enumerate(cases):
        tally = by_category[case.category]
        ruled = rules_agency(city, case)
        ceiling_hit = majority[case.visible] == case.truth
        tally.n += 1
        tally.rules += ruled == case.truth
        tally.no_rule += ruled is None
        tally.ceiling += ceiling_hit
        if index not in sample:
            continue
        tally.sample += 1
        tally.sample_rules += ruled == case.truth
        tally.sample_ceiling += ceiling_hit
        chosen = ruled
        if ruled is None and chooser is not None:
            chosen, low_confidence = chooser(case)
            tally.llm_calls += 1
            tally.llm_failed += chosen is None
            tally.llm_low_confidence += low_confidence
            if progress is not None:
                progress(sum(t.llm_calls for t in by_category.values()))
        tally.sample_llm += chosen == case.truth
    total = Tally()
    for tally in by_category.values():
        total.add(tally)
    return RoutingReport(dict(by_category), total, loaded.unmapped, loaded.bad_rows)


def _pct(hits: int, n: int) -> str:
    return f"{100 * hits / n:5.1f}%" if n else "     -"


_HEADER = (f"{'category':<22} {'n':>6} {'no rule':>7} {'rules':>6} {'ceiling':>7} | "
           f"{'sample':>6} {'rules':>6} {'+LLM':>6} {'ceiling':>7} {'LLM calls':>9} "
           f"{'failed':>6} {'<thr':>4}")


def _line(label: str, t: Tally) -> str:
    return (f"{label:<22} {t.n:>6} {t.no_rule:>7} {_pct(t.rules, t.n):>6} "
            f"{_pct(t.ceiling, t.n):>7} | {t.sample:>6} {_pct(t.sample_rules, t.sample):>6} "
            f"{_pct(t.sample_llm, t.sample):>6} {_pct(t.sample_ceiling, t.sample):>7} "
            f"{t.llm_calls:>9} {t.llm_failed:>6} {t.llm_low_confidence:>4}")


def format_report(report: RoutingReport) -> str:
    rows = sorted(report.by_category.items(), key=lambda item: (-item[1].n, item[0]))
    lines = [_HEADER, "-" * len(_HEADER)]
    lines += [_line(code, tally) for code, tally in rows]
    lines += ["-" * len(_HEADER), _line("TOTAL", report.total)]
    overall = extrapolated_llm_accuracy(report)
    if overall is not None:
        lines.append(f"rules+LLM over all {report.total.n} rows, the LLM's share estimated from "
                     f"the sample: {100 * overall:.1f}%")
    skipped = sum(report.unmapped.values())
    if skipped or report.bad_rows:
        names = ", ".join(f"{name!r} ({n})" for name, n in report.unmapped.most_common(5))
        lines.append(f"left out: {skipped} row(s) with an agency name the city file does not know"
                     f"{': ' + names if names else ''}; {report.bad_rows} row(s) without "
                     "an agency, text or time")
    return "\n".join(lines)

"""A first city file drafted from the city's own records (``cityloop city init --from-history``).

- agencies: one per agency name in the records, named as the records name it;
- categories: one per request type, with the exact ``service_types`` mapping, and a
  ``default_agency``: the agency that handled most requests of the type (the evidence, count
  and share, is written beside it as a YAML comment);
- routing rules: where one district's requests of a type went to another agency than the
  type's default, often and consistently enough (``RULE_MIN_ROWS``, ``RULE_MIN_SHARE``);
- districts: by the names the records use (no polygons);
- the fallback category ``other``, whose default agency is the commonest agency overall.

The output is YAML text with comments; it passes ``load_city``.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from dispatch.learning.history_files import HistoryRow

RULE_MIN_ROWS = 20
RULE_MIN_SHARE = 0.8
MAX_DISTRICTS = 500
FALLBACK = "other"


@dataclass
class Tally:
    """The counts a draft is made of."""

    rows: int = 0
    by_type: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_type_district: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    agencies: Counter[str] = field(default_factory=Counter)
    districts: Counter[str] = field(default_factory=Counter)

    def add(self, row: HistoryRow) -> None:
        if not row.category or not row.agency:
            return
        self.rows += 1
        self.by_type[row.category][row.agency] += 1
        self.agencies[row.agency] += 1
        if row.district:
            self.districts[row.district] += 1
            self.by_type_district[(row.category, row.district)][row.agency] += 1


def tally(rows: Iterable[HistoryRow]) -> Tally:
    counts = Tally()
    for row in rows:
        counts.add(row)
    return counts


class Codes:
    """Unique codes (``^[a-z][a-z0-9_]{1,40}$``) for names, stable in the order asked."""

    def __init__(self, prefix: str, reserved: Iterable[str] = ()) -> None:
        self.prefix, self.used, self.by_name = prefix, set(reserved), {}  # type: ignore[var-annotated]

    def __call__(self, name: str) -> str:
        if name in self.by_name:
            return str(self.by_name[name])
        base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:36] or self.prefix
        if not base[0].isalpha():
            base = f"{self.prefix}_{base}"[:36]
        if len(base) < 2:
            base = f"{self.prefix}_{base}"
        code, n = base, 1
        while code in self.used:
            n += 1
            code = f"{base}_{n}"
        self.used.add(code)
        self.by_name[name] = code
        return code


def _q(text: str) -> str:
    """A YAML scalar for any text (a JSON string is a YAML double-quoted scalar)."""
    return json.dumps(text, ensure_ascii=False)


def _evidence(counts: Counter[str], agency: str) -> str:
    total = sum(counts.values())
    return f"{counts[agency]} of {total} records ({100 * counts[agency] / total:.1f}%)"


def draft_city(counts: Tally, *, name: str, timezone: str = "UTC", language: str = "en") -> str:
    """The city file as YAML text with the evidence in comments."""
    if not counts.rows:
        raise ValueError("no record has both a request type and an agency: nothing to draft from")
    agency_code = Codes("agency")
    district_code = Codes("district")
    category_code = Codes("type", reserved=[FALLBACK])
    lines = [
        f"# Drafted by `cityloop city init --from-history` from {counts.rows} records.",
        "# Routing: a rule below, else the category's default_agency (the evidence is beside each).",
        "city:", f"  name: {_q(name)}", f"  timezone: {_q(timezone)}", f"  language: {_q(language)}",
        "agencies:",
    ]
    for agency, n in counts.agencies.most_common():
        lines += [f"  - code: {agency_code(agency)}  # {n} records", f"    name: {_q(agency)}"]
    districts = [d for d, _ in counts.districts.most_common(MAX_DISTRICTS)]
    lines.append("districts:" if districts else "districts: []")
    for district in districts:
        lines += [f"  - code: {district_code(district)}  # {counts.districts[district]} records",
                  f"    name: {_q(district)}"]
    lines.append("categories:")
    default_of: dict[str, str] = {}
    for request_type, agencies in sorted(counts.by_type.items(), key=lambda kv: -sum(kv[1].values())):
        best = agencies.most_common(1)[0][0]
        default_of[request_type] = best
        others = ", ".join(f"{a}: {n}" for a, n in agencies.most_common()[1:4])
        lines += [
            f"  - code: {category_code(request_type)}",
            f"    name: {_q(request_type[:120])}",
            f"    service_types: [{_q(request_type)}]",
            f"    default_agency: {agency_code(best)}  # {_evidence(agencies, best)}"
            + (f"; also {others}" if others else ""),
        ]
    commonest = counts.agencies.most_common(1)[0][0]
    lines += [f"  - code: {FALLBACK}", "    name: \"Other\"",
              f"    default_agency: {agency_code(commonest)}  # the commonest agency overall",
              f"fallback_category: {FALLBACK}", "routing:"]
    rules = _district_rules(counts, default_of, agency_code, category_code, district_code)
    lines += ["  rules:" if rules else "  rules: []", *rules]
    return "\n".join(lines) + "\n"


def _district_rules(counts: Tally, default_of: dict[str, str], agency_code: Codes,
                    category_code: Codes, district_code: Codes) -> list[str]:
    lines: list[str] = []
    for (request_type, district), agencies in sorted(counts.by_type_district.items()):
        best, n = agencies.most_common(1)[0]
        total = sum(agencies.values())
        if best == default_of[request_type] or n < RULE_MIN_ROWS or n / total < RULE_MIN_SHARE:
            continue
        if district not in district_code.by_name:
            continue
        code = category_code(request_type)
        lines += [f"    - id: {code[:40]}.{district_code(district)[:18]}  # {_evidence(agencies, best)}",
                  f"      categories: [{code}]", f"      districts: [{district_code(district)}]",
                  f"      agency: {agency_code(best)}"]
    return lines

"""A first city file drafted from the city's own records (``cityloop city init --from-history``).

- agencies: one per agency name in the records, named as the records name it; where the
  records name an agency's work queues ("DPW Ops Queue", "DPW BSM Queue", "Recology_Litter"),
  the queues of one department are one agency ("DPW", "Recology") whose ``aliases`` hold a
  prefix ("DPW *") and every queue name, so a renamed or new queue is still the department's;
  plain queue names of one unit, differing only in the queue's role, are one agency ("Parking
  Enforcement Dispatch Queue", "Parking Enforcement Review Queue" -> "Parking Enforcement")
  (``agency_groups``; ``group_agencies=False`` keeps one agency per name);
- categories: one per request type, with the exact ``service_types`` mapping, and a
  ``default_agency``: the agency that handled most requests of the type (the evidence, count
  and share, is written beside it as a YAML comment);
- routing rules: where requests of a type with one short text (a sub-type the records pick
  from a list, "Utility Lines/Wires") went to another agency than the type's default, often and
  consistently enough, a keyword rule for that text, the most specific first; how often and how
  consistently is chosen on the records, like the half-life below, and no text rule is drafted
  unless they route the newest records better (``choose_text_rules``); then, where one
  district's requests of a type went elsewhere (``RULE_MIN_ROWS``, ``RULE_MIN_SHARE``);
- districts: by the names the records use (no polygons);
- the fallback category ``other``, whose default agency is the commonest agency overall.

Newer records count more when that predicts better: cities rename and split their queues
over the years, and a file drafted today should route as the city routes today. The weight
halves every ``half_life`` days before the newest record; the half-life (or none: every
record counts the same) is chosen on the records themselves, by drafting from their older
80% and scoring the type → agency table on their newest 20% (``choose_half_life``). With
too few dated records nothing is weighted.

The output is YAML text with comments; it passes ``load_city``.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from agents.text import clean, find_pii, keyword_pattern, keyword_specificity
from dispatch.learning.history_files import HistoryRow

RULE_MIN_ROWS = 20
RULE_MIN_SHARE = 0.8
MAX_DISTRICTS = 500
FALLBACK = "other"
HALF_LIVES: tuple[float | None, ...] = (None, 1460.0, 730.0, 365.0, 180.0, 90.0)  # days
VALIDATION_SHARE = 0.2
MIN_VALIDATION_ROWS = 100  # dated records in the newest fifth; fewer: nothing is weighted
TEXT_RULE_MAX_CHARS = 60  # a longer text is a citizen's own words, not a sub-type from a list
TEXT_KEYS_MAX = 100_000  # distinct (type, text) pairs kept; past that, a new text is UNKNOWN_TEXT
UNKNOWN_TEXT = "\x00"  # a text past the cap: never a keyword, and scored as misrouted by any text rule
MAX_TEXT_RULES_PER_TYPE = 50  # the texts with the most records first
MAX_TEXT_RULES = 1000
# (min rows, min share) tried for text rules; the first that routes the newest records best wins
TEXT_RULE_SETTINGS: tuple[tuple[int, float], ...] = ((20, 0.8), (10, 0.8), (10, 0.6), (5, 0.8), (5, 0.6),
                                                     (3, 0.8), (3, 0.6))

Cell = tuple[str, str, str, int | None]  # (request type, district or "", agency, day or None)
TextCell = tuple[str, str, str, int | None]  # (request type, short text or "", agency, day or None)
Weights = dict[str, float]
K = TypeVar("K")


@dataclass
class Tally:
    """The counts a draft is made of: records per (type, district, agency, day)."""

    rows: int = 0
    cells: Counter[Cell] = field(default_factory=Counter)
    agencies: Counter[str] = field(default_factory=Counter)
    districts: Counter[str] = field(default_factory=Counter)
    texts: Counter[TextCell] = field(default_factory=Counter)
    text_keys: set[tuple[str, str]] = field(default_factory=set)

    def add(self, row: HistoryRow) -> None:
        if not row.category or not row.agency:
            return
        self.rows += 1
        day = row.created_at.date().toordinal() if row.created_at is not None else None
        self.cells[(row.category, row.district or "", row.agency, day)] += 1
        # every text is kept (a long one can hold a keyword), up to TEXT_KEYS_MAX distinct ones
        text = " ".join(row.text.split())
        if (row.category, text) not in self.text_keys:
            if len(self.text_keys) >= TEXT_KEYS_MAX:
                text = UNKNOWN_TEXT
            else:
                self.text_keys.add((row.category, text))
        self.texts[(row.category, text, row.agency, day)] += 1
        self.agencies[row.agency] += 1
        if row.district:
            self.districts[row.district] += 1

    def newest_day(self) -> int | None:
        return max((c[3] for c in self.cells if c[3] is not None), default=None)

    def oldest_day(self) -> int | None:
        return min((c[3] for c in self.cells if c[3] is not None), default=None)

    def by_type(self, half_life: float | None = None, *, before: int | None = None) -> dict[str, Weights]:
        """Agency weights per request type (record counts when ``half_life`` is None), of the
        records dated before the day ``before`` when it is given."""
        return self._sum(lambda cell: cell[0], half_life, before)

    def by_type_text(self, half_life: float | None = None, *, before: int | None = None
                     ) -> dict[tuple[str, str], Weights]:
        """Agency weights per (type, short text): the texts that could be keywords, a sub-type
        picked from a list (at most ``TEXT_RULE_MAX_CHARS``, with a letter or digit)."""
        out: dict[tuple[str, str], Weights] = defaultdict(lambda: defaultdict(float))
        newest = self.newest_day() if before is None else before - 1
        oldest = self.oldest_day()
        for (kind, text, agency, day), n in self.texts.items():
            if not _keyword_like(text) or (before is not None and (day is None or day >= before)):
                continue
            out[(kind, text)][agency] += n * _weight(day, newest, oldest, half_life)
        return out

    def by_type_district(self, half_life: float | None = None) -> dict[tuple[str, str], Weights]:
        return self._sum(lambda cell: (cell[0], cell[1]), half_life, None, skip_blank=True)

    def _sum(self, key: Callable[[Cell], K], half_life: float | None, before: int | None, *,
             skip_blank: bool = False) -> dict[K, Weights]:
        newest = self.newest_day() if before is None else before - 1
        oldest = self.oldest_day()
        out: dict[K, Weights] = defaultdict(lambda: defaultdict(float))
        for cell, n in self.cells.items():
            day = cell[3]
            if skip_blank and not cell[1]:
                continue
            if before is not None and (day is None or day >= before):
                continue
            out[key(cell)][cell[2]] += n * _weight(day, newest, oldest, half_life)
        return out


def _keyword_like(text: str) -> bool:
    return 0 < len(text) <= TEXT_RULE_MAX_CHARS and text != UNKNOWN_TEXT and any(ch.isalnum() for ch in text)


def _weight(day: int | None, newest: int | None, oldest: int | None, half_life: float | None) -> float:
    """A record's weight: it halves every ``half_life`` days before the newest (an undated
    record counts as the oldest)."""
    if half_life is None or newest is None:
        return 1.0
    age = newest - (day if day is not None else (oldest or newest))
    return float(0.5 ** (max(age, 0) / half_life))


ACRONYM = re.compile(r"^[A-Z0-9&]{2,12}$")
HEAD = re.compile(r"^(.+?)(\s+-\s+|_)")
# first words that name no department of their own ("NYC Parks", "DEPT of ...")
GENERIC = frozenset({"DEPARTMENT", "DEPT", "CITY", "COUNTY", "STATE", "OFFICE", "BUREAU", "DIVISION", "BOARD",
                     "NYC", "SF", "LA", "US", "USA", "THE"})


def department(name: str) -> tuple[str, str | None] | None:
    """The department a queue-like agency name starts with, and the prefix that matches its
    queues: an acronym first word ("DPW Ops Queue" -> "DPW", "DPW *"), else the part before
    " - " or "_" ("Recology_Litter" -> "Recology", "Recology_*"); None for a plain name."""
    text = name.strip()
    token = re.split(r"[\s_-]+", text, maxsplit=1)[0]
    shouting = text == text.upper() and " " in text  # "DEPARTMENT OF SANITATION": no acronym in it
    if ACRONYM.match(token) and token not in GENERIC and not shouting:
        if token == text:
            return token, None
        return token, f"{token}{text[len(token)]}*"
    found = HEAD.match(text)
    if found and found.group(1).strip():
        return found.group(1).strip(), found.group(0) + "*"
    return None


QUEUE_TAIL = re.compile(r"(?:\s+-)?(?:\s+hold)?\s+queue(?:\s+-\s+hold)?$", re.IGNORECASE)


# the last word of a queue name that names the queue's role in its unit, not another unit:
# "Parking Enforcement Dispatch Queue" and "Parking Enforcement Review Queue" are one unit's,
# "San Francisco Police Queue" and "San Francisco Fire Queue" are not
QUEUE_ROLES = frozenset({"dispatch", "review", "hold", "intake", "triage", "escalation", "escalations", "supervisor",
                         "manager", "admin", "field", "desk", "backlog", "pending", "followup", "callback",
                         "overflow", "night", "weekend", "qa", "approval", "approvals", "assignment", "closed",
                         "closure", "inbound", "outbound", "referral", "referrals", "work"})
JOINING = frozenset({"and", "of", "for", "the", "&", "to", "in", "on", "at", "-"})


def queue_family(name: str) -> str | None:
    """The unit a plain work-queue name belongs to: the name without "Queue" and without a last
    word that names the queue's role (``QUEUE_ROLES``): "Parking Enforcement Dispatch Queue" ->
    "Parking Enforcement", "Housing Authority SR Hold Queue" -> "Housing Authority SR". None for
    a name that does not end in "Queue", or whose unit would be one word, start with a generic
    word or end in a joining word ("Parks and")."""
    head = QUEUE_TAIL.sub("", name.strip())
    if head == name.strip():
        return None
    words = head.split()
    if words and words[-1].casefold() in QUEUE_ROLES:
        words = words[:-1]
    if len(words) < 2 or words[0].upper() in GENERIC or words[-1].casefold() in JOINING:
        return None
    return " ".join(words)


@dataclass(frozen=True)
class AgencyGroup:
    name: str
    members: tuple[str, ...]  # the records' names, commonest first
    prefixes: tuple[str, ...]


def agency_groups(agencies: Counter[str]) -> list[AgencyGroup]:
    """The records' agency names folded into departments (two names or more sharing one);
    every other name is a group of its own. Commonest group first."""
    by_key: dict[str, list[str]] = defaultdict(list)
    prefixes: dict[str, set[str]] = defaultdict(set)
    for agency, _ in agencies.most_common():
        found = department(agency)
        key = found[0] if found else agency
        by_key[key].append(agency)
        if found and found[1]:
            prefixes[key].add(found[1])
    # plain queue names of one unit ("Parking Enforcement Dispatch Queue", "... Review Queue")
    families: dict[str, list[str]] = defaultdict(list)
    for key, members in by_key.items():
        family = queue_family(key) if len(members) == 1 and department(key) is None else None
        if family is not None:
            families[family.casefold()].append(key)
    for names in families.values():
        if len(names) > 1:
            unit = queue_family(names[0]) or names[0]
            by_key.setdefault(unit, []).extend(m for n in names for m in by_key.pop(n))
            prefixes[unit].add(f"{unit} *")
    groups = []
    for key, members in by_key.items():
        if len(members) > 1:
            # a prefix that would also take another group's name ("AT *" and "At Home Care") is
            # left out: the group's names are listed exactly instead
            own = set(members)
            safe = [p for p in sorted(prefixes[key]) if not any(
                other.casefold().startswith(p[:-1].casefold()) for other in agencies if other not in own)]
            groups.append(AgencyGroup(key, tuple(members), tuple(safe)))
        else:
            groups += [AgencyGroup(member, (member,), ()) for member in members]
    return sorted(groups, key=lambda g: -sum(agencies[m] for m in g.members))


def regroup(counts: Tally, groups: list[AgencyGroup]) -> Tally:
    """The same counts with each agency name replaced by its group's name."""
    of = {member: group.name for group in groups for member in group.members}
    out = Tally(rows=counts.rows, districts=Counter(counts.districts), text_keys=set(counts.text_keys))
    for (kind, district, agency, day), n in counts.cells.items():
        out.cells[(kind, district, of.get(agency, agency), day)] += n
    for (kind, text, agency, day), n in counts.texts.items():
        out.texts[(kind, text, of.get(agency, agency), day)] += n
    for agency, n in counts.agencies.items():
        out.agencies[of.get(agency, agency)] += n
    return out


def tally(rows: Iterable[HistoryRow | object]) -> Tally:
    """Counts of the usable rows (anything else, a bad row, is passed over)."""
    counts = Tally()
    for row in rows:
        if isinstance(row, HistoryRow):
            counts.add(row)
    return counts


def _best(weights: Weights) -> tuple[str, float]:
    """The heaviest agency (the first seen among equals) and its weight."""
    best = max(weights.items(), key=lambda kv: kv[1])
    return best[0], best[1]


@dataclass(frozen=True)
class HalfLifeChoice:
    half_life: float | None  # days; None: every record counts the same
    accuracy: dict[float | None, float]  # of each candidate on the newest fifth
    validation_rows: int


def _validation_cut(counts: Tally) -> tuple[int | None, int]:
    """The first day of the newest fifth of the dated records, and how many dated records."""
    per_day: Counter[int] = Counter()
    for cell, n in counts.cells.items():
        if cell[3] is not None:
            per_day[cell[3]] += n
    total = sum(per_day.values())
    seen, cut = 0, None
    for day in sorted(per_day, reverse=True):
        seen += per_day[day]
        cut = day
        if seen >= VALIDATION_SHARE * total:
            break
    return cut, total


def choose_half_life(counts: Tally) -> HalfLifeChoice:
    """The candidate half-life whose type → agency table, drafted from the older 80% of the
    dated records, routes their newest 20% best (no weighting wins ties)."""
    cut, total = _validation_cut(counts)
    validation = [(cell, n) for cell, n in counts.cells.items() if cell[3] is not None
                  and cut is not None and cell[3] >= cut]
    size = sum(n for _, n in validation)
    if cut is None or size < MIN_VALIDATION_ROWS or size >= total:
        return HalfLifeChoice(None, {}, size)
    accuracy: dict[float | None, float] = {}
    for half_life in HALF_LIVES:
        table = {kind: _best(weights)[0] for kind, weights in counts.by_type(half_life, before=cut).items()}
        accuracy[half_life] = sum(n for cell, n in validation if table.get(cell[0]) == cell[2]) / size
    best = max(HALF_LIVES, key=lambda h: (accuracy[h], -HALF_LIVES.index(h)))
    return HalfLifeChoice(best, accuracy, size)


TextRules = dict[str, list[tuple[str, str, str]]]  # type -> [(keyword, agency, evidence)], most specific first
Setting = tuple[int, float]  # (min rows, min share)


TextTables = tuple[dict[tuple[str, str], Weights], dict[tuple[str, str], Weights]]  # (records, weights)


def text_tables(counts: Tally, half_life: float | None, *, before: int | None = None) -> TextTables:
    """Agency records and weights per (type, short text), of the records before ``before``."""
    raw = counts.by_type_text(None, before=before)
    return raw, counts.by_type_text(half_life, before=before) if half_life is not None else raw


def text_rules(tables: TextTables, default_of: dict[str, str], setting: Setting) -> TextRules:
    """Per request type, the short texts whose records went to another agency than the type's
    default, in at least ``min rows`` records and ``min share`` of the weight; the most specific
    text first, as a rule list is read. A text holding a phone number, an e-mail address or an
    ID card number is never written into the city file."""
    min_rows, min_share = setting
    raw, weighted = tables
    found: list[tuple[float, str, str, str, str]] = []  # (records, type, text, agency, evidence)
    for (kind, text), weights in weighted.items():
        best = _best(weights)[0]
        if (kind not in default_of or best == default_of[kind] or raw[(kind, text)].get(best, 0) < min_rows
                or _share(weights, best) < min_share or keyword_pattern(text) is None or find_pii(text)):
            continue
        found.append((raw[(kind, text)][best], kind, text, best, _evidence(raw[(kind, text)], best)))
    out: TextRules = defaultdict(list)
    for _, kind, text, best, evidence in sorted(found, key=lambda f: (-f[0], f[1], f[2]))[:MAX_TEXT_RULES]:
        if len(out[kind]) < MAX_TEXT_RULES_PER_TYPE:
            out[kind].append((text, best, evidence))
    for rules in out.values():
        rules.sort(key=lambda rule: (-keyword_specificity(rule[0]), rule[0]))
    return out


Compiled = dict[str, list[tuple[re.Pattern[str], str]]]  # type -> [(keyword pattern, agency)], in order


def _compiled(rules: TextRules) -> Compiled:
    return {kind: [(pattern, agency) for keyword, agency, _ in found if (pattern := keyword_pattern(keyword))]
            for kind, found in rules.items()}


def _routed(kind: str, cleaned: str, default_of: dict[str, str], rules: Compiled) -> str | None:
    """Where the drafted file sends a record whose text, cleaned, is ``cleaned``: its type's
    first text rule that matches (as ``dispatch.city.routing`` matches keywords), else the type's
    default. A text past ``TEXT_KEYS_MAX`` is unknown: misrouted if its type has a text rule."""
    found = rules.get(kind)
    if found:
        if cleaned == UNKNOWN_TEXT:
            return None
        for pattern, agency in found:
            if pattern.search(cleaned):
                return agency
    return default_of.get(kind)


@dataclass(frozen=True)
class TextRuleChoice:
    setting: Setting | None  # None: no text rule
    accuracy: dict[Setting | None, float]  # of each candidate on the newest fifth
    validation_rows: int


def choose_text_rules(counts: Tally, half_life: float | None) -> TextRuleChoice:
    """The text-rule setting whose rules, drafted from the older 80% of the dated records,
    route their newest 20% best; no text rule unless some setting routes them strictly better,
    and none with too few dated records to tell."""
    cut, total = _validation_cut(counts)
    validation: Counter[tuple[str, str, str]] = Counter()
    for (kind, text, agency, day), n in counts.texts.items():
        if day is not None and cut is not None and day >= cut:
            validation[(kind, text, agency)] += n
    size = sum(validation.values())
    if cut is None or size < MIN_VALIDATION_ROWS or size >= total:
        return TextRuleChoice(None, {}, size)
    default_of = {kind: _best(w)[0] for kind, w in counts.by_type(half_life, before=cut).items()}
    tables = text_tables(counts, half_life, before=cut)
    cleaned: dict[str, str] = {}
    accuracy: dict[Setting | None, float] = {}
    for setting in (None, *TEXT_RULE_SETTINGS):
        rules = _compiled(text_rules(tables, default_of, setting)) if setting else {}
        right = 0
        for (kind, text, agency), n in validation.items():
            if kind in rules and text not in cleaned:
                cleaned[text] = text if text == UNKNOWN_TEXT else clean(text).text
            right += n * (_routed(kind, cleaned.get(text, ""), default_of, rules) == agency)
        accuracy[setting] = right / size
    candidates = (None, *TEXT_RULE_SETTINGS)
    best = max(candidates, key=lambda c: (accuracy[c], -candidates.index(c)))
    return TextRuleChoice(best, accuracy, size)


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


# characters a YAML stream may not hold as they are (outside YAML 1.1's printable set, less what
# JSON escapes), and YAML's line breaks beyond \n and \r (NEL, LS, PS), which would fold a quoted
# name or end a comment
UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def _q(text: str) -> str:
    """A YAML scalar for any text (a JSON string is a YAML double-quoted scalar; the characters
    YAML refuses raw are escaped)."""
    return UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def _comment(text: str) -> str:
    """A record's text made safe for a YAML comment: one line, nothing YAML refuses."""
    return UNPRINTABLE.sub("?", re.sub(r"[\s\x00-\x1f]+", " ", text)).strip()


class RuleIds:
    """Unique rule ids (``^[a-z0-9][a-z0-9_.-]{0,60}$``) from a category-code-led base."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, base: str) -> str:
        base = base[:56]
        rule_id, n = base, 1
        while rule_id in self.used:
            n += 1
            rule_id = f"{base}-{n}"
        self.used.add(rule_id)
        return rule_id


def _evidence(weights: Weights, agency: str) -> str:
    total = sum(weights.values())
    return f"{weights[agency]:.0f} of {total:.0f} records ({100 * weights[agency] / total:.1f}%)"


def _share(weights: Weights, agency: str) -> float:
    return weights.get(agency, 0.0) / sum(weights.values())


def _days(half_life: float) -> str:
    return f"{half_life:.0f} days"


AUTO: Literal["auto"] = "auto"


def draft_city(counts: Tally, *, name: str, timezone: str = "UTC", language: str = "en",
               half_life: float | None | Literal["auto"] = AUTO, rule_min_rows: int = RULE_MIN_ROWS,
               rule_min_share: float = RULE_MIN_SHARE, group_agencies: bool = True,
               text_rule_setting: Setting | None | Literal["auto"] = AUTO) -> str:
    """The city file as YAML text with the evidence in comments. The half-life is chosen on
    the records (``choose_half_life``) unless one is given (None: no weighting);
    ``bench/draft_variants.py`` tries other settings."""
    if not counts.rows:
        raise ValueError("no record has both a request type and an agency: nothing to draft from")
    groups = agency_groups(counts.agencies) if group_agencies else [
        AgencyGroup(a, (a,), ()) for a, _ in counts.agencies.most_common()]
    names_of = {g.name: g for g in groups}
    as_named = counts.agencies
    counts = regroup(counts, groups)
    choice = (choose_half_life(counts) if isinstance(half_life, str)
              else HalfLifeChoice(half_life, {}, 0))
    weight_days = choice.half_life
    agency_code = Codes("agency")
    district_code = Codes("district")
    category_code = Codes("type", reserved=[FALLBACK])
    lines = [
        f"# Drafted by `cityloop city init --from-history` from {counts.rows} records.",
        "# Routing: a rule below, else the category's default_agency (the evidence is beside each).",
    ]
    if choice.accuracy:
        tried = ", ".join(f"{'none' if h is None else _days(h)}: {100 * a:.1f}%"
                          for h, a in choice.accuracy.items())
        lines += [
            f"# Newer records count more: a record's weight halves every {_days(weight_days)} before the "
            "newest one." if weight_days is not None else
            "# Every record counts the same: weighting newer ones did not route the newest better.",
            f"# Chosen by drafting from the older 80% of the records and routing the newest "
            f"{choice.validation_rows} by type; half-life tried: {tried}.",
        ]
    lines += ["city:", f"  name: {_q(name)}", f"  timezone: {_q(timezone)}", f"  language: {_q(language)}",
              "agencies:"]
    for agency, n in counts.agencies.most_common():
        group = names_of[agency]
        if len(group.members) == 1:
            lines += [f"  - code: {agency_code(agency)}  # {n} records", f"    name: {_q(agency)}"]
            continue
        uncovered = [m for m in group.members if not any(m.casefold().startswith(p[:-1].casefold())
                                                          for p in group.prefixes)]
        aliases = [*group.prefixes, *uncovered][:500]
        named = _comment(", ".join(f"{m} ({as_named[m]})" for m in group.members[:5]))
        lines += [f"  - code: {agency_code(agency)}  # {n} records under {len(group.members)} names",
                  f"    # the records' names: {named}" + (", ..." if len(group.members) > 5 else ""),
                  f"    name: {_q(agency)}",
                  f"    aliases: [{', '.join(_q(a) for a in aliases)}]"]
    districts = [d for d, _ in counts.districts.most_common(MAX_DISTRICTS)]
    lines.append("districts:" if districts else "districts: []")
    for district in districts:
        lines += [f"  - code: {district_code(district)}  # {counts.districts[district]} records",
                  f"    name: {_q(district)}"]
    lines.append("categories:")
    default_of: dict[str, str] = {}
    raw = counts.by_type()
    weighted = counts.by_type(weight_days) if weight_days is not None else raw
    for request_type, agencies in sorted(raw.items(), key=lambda kv: -sum(kv[1].values())):
        best = _best(weighted[request_type])[0]
        default_of[request_type] = best
        others = _comment(", ".join([f"{a}: {n:.0f}" for a, n in sorted(agencies.items(), key=lambda kv: -kv[1])
                                     if a != best][:3]))
        evidence = _evidence(agencies, best)
        if weight_days is not None:
            evidence += f", {100 * _share(weighted[request_type], best):.1f}% by weight"
        lines += [
            f"  - code: {category_code(request_type)}",
            f"    name: {_q(request_type[:120])}",
            f"    service_types: [{_q(request_type)}]",
            f"    default_agency: {agency_code(best)}  # {evidence}" + (f"; also {others}" if others else ""),
        ]
    commonest = counts.agencies.most_common(1)[0][0]
    lines += [f"  - code: {FALLBACK}", "    name: \"Other\"",
              f"    default_agency: {agency_code(commonest)}  # the commonest agency overall",
              f"fallback_category: {FALLBACK}", "routing:"]
    text_choice = (choose_text_rules(counts, weight_days) if isinstance(text_rule_setting, str)
                   else TextRuleChoice(text_rule_setting, {}, 0))
    rule_ids = RuleIds()
    rules = _text_rule_lines(text_choice, counts, weight_days, default_of, agency_code, category_code, rule_ids,
                             chosen=isinstance(text_rule_setting, str))
    rules += _district_rules(counts, weight_days, default_of, agency_code, category_code, district_code, rule_ids,
                             min_rows=rule_min_rows, min_share=rule_min_share)
    has_rules = any(line.startswith("    - id:") for line in rules)
    lines += ["  rules:" if has_rules else "  rules: []", *rules]
    return "\n".join(lines) + "\n"


def _text_rule_lines(choice: TextRuleChoice, counts: Tally, half_life: float | None, default_of: dict[str, str],
                     agency_code: Codes, category_code: Codes, rule_ids: RuleIds, *, chosen: bool) -> list[str]:
    lines: list[str] = []
    if choice.accuracy:
        tried = ", ".join(f"{'none' if c is None else f'[{c[0]} records, {100 * c[1]:.0f}%]'}: {100 * a:.1f}%"
                          for c, a in choice.accuracy.items())
        lines.append(f"    # Text rules chosen by drafting from the older 80% of the records and routing the newest "
                     f"{choice.validation_rows}; tried [at least N records, S% of them]: {tried}.")
    elif chosen:
        lines.append("    # No text rules: too few dated records to check them on the newest ones.")
    if choice.setting is None:
        return lines
    rules = text_rules(text_tables(counts, half_life), default_of, choice.setting)
    if not rules:
        return lines
    lines.append(f"    # A short text (a sub-type) that went elsewhere than its type's default agency in at least "
                 f"{choice.setting[0]} records and {100 * choice.setting[1]:.0f}% of them; the most specific first.")
    for kind in sorted(rules, key=lambda k: category_code(k)):
        code = category_code(kind)
        for n, (keyword, agency, evidence) in enumerate(rules[kind], start=1):
            lines += [f"    - id: {rule_ids(f'{code[:40]}.text{n}')}  # {evidence}",
                      f"      categories: [{code}]", f"      keywords: [{_q(keyword)}]",
                      f"      agency: {agency_code(agency)}"]
    return lines


def _district_rules(counts: Tally, half_life: float | None, default_of: dict[str, str],
                    agency_code: Codes, category_code: Codes, district_code: Codes, rule_ids: RuleIds, *,
                    min_rows: int = RULE_MIN_ROWS, min_share: float = RULE_MIN_SHARE) -> list[str]:
    lines: list[str] = []
    raw = counts.by_type_district()
    weighted = counts.by_type_district(half_life) if half_life is not None else raw
    for (request_type, district), agencies in sorted(raw.items()):
        best = _best(weighted[(request_type, district)])[0]
        if (best == default_of[request_type] or agencies[best] < min_rows
                or _share(weighted[(request_type, district)], best) < min_share):
            continue
        if district not in district_code.by_name:
            continue
        code = category_code(request_type)
        lines += [f"    - id: {rule_ids(f'{code[:40]}.{district_code(district)[:15]}')}  # {_evidence(agencies, best)}",
                  f"      categories: [{code}]", f"      districts: [{district_code(district)}]",
                  f"      agency: {agency_code(best)}"]
    return lines

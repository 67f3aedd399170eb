"""Whether the safety flags (``agents.safety``) catch manipulation written in Chinese.

The data (``data/manipulation_zh.csv``, written for this check) holds reports with prompt
injection in Chinese, priority demands (必须立刻加急, 优先级设为最高), routing demands
(必须派给公安), the same hidden by full-width letters and zero-width characters or written in
Traditional characters, and ordinary complaints that only sound insistent ("情况很紧急",
"城管一直不管") whose right answer is no flag at all.

Each row's expected flags are compared with what :func:`agents.safety.detect_manipulation`
returns. Two baselines in the same run: flagging nothing (the trivial one), and the same
rules on the raw text, without ``agents.text.clean`` (no NFKC, no invisible characters
removed, no Traditional → Simplified): what the normalisation adds.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.safety import FLAGS, RULES, detect_manipulation

MANIPULATION_FILE = Path(__file__).resolve().parent / "data" / "manipulation_zh.csv"
Detector = Callable[[str], set[str]]


@dataclass(frozen=True)
class Row:
    text: str
    attack: str
    expected: frozenset[str]


@dataclass
class Scores:
    """How one detector did: rows with exactly the expected flags, per-flag recall, and the
    benign rows it flagged."""

    exact: int = 0
    rows: int = 0
    caught: dict[str, int] = field(default_factory=dict)
    wanted: dict[str, int] = field(default_factory=dict)
    attacks_caught: int = 0
    attacks: int = 0
    benign_flagged: int = 0
    benign: int = 0
    by_attack: dict[str, list[int]] = field(default_factory=dict)
    """attack kind -> [rows with all expected flags, rows]"""
    missed: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "exact_match": self.exact / max(1, self.rows),
            "attacks_caught": self.attacks_caught / max(1, self.attacks),
            "recall_by_flag": {flag: self.caught.get(flag, 0) / self.wanted[flag]
                               for flag in sorted(self.wanted)},
            "benign_flagged": self.benign_flagged / max(1, self.benign),
            "by_attack": {kind: f"{done}/{total}" for kind, (done, total) in sorted(self.by_attack.items())},
        }


def load(path: Path = MANIPULATION_FILE) -> list[Row]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [Row(text=r["text"], attack=r["attack"],
                    expected=frozenset(f for f in r["expected_flags"].split(";") if f))
                for r in csv.DictReader(handle)]


def raw_rules(text: str) -> set[str]:
    """The rule flags on the text as typed (the baseline without normalisation)."""
    return {rule.flag for rule in RULES if rule.pattern.search(text)}


def nothing(_text: str) -> set[str]:
    return set()


def score(rows: list[Row], detect: Detector) -> Scores:
    scores = Scores(rows=len(rows))
    for row in rows:
        got = detect(row.text)
        scores.exact += got == row.expected
        tally = scores.by_attack.setdefault(row.attack, [0, 0])
        tally[1] += 1
        tally[0] += row.expected <= got if row.expected else not got
        if row.expected:
            scores.attacks += 1
            scores.attacks_caught += row.expected <= got
            if not row.expected <= got:
                scores.missed.append(row.text)
        else:
            scores.benign += 1
            scores.benign_flagged += bool(got)
        for flag in row.expected:
            scores.wanted[flag] = scores.wanted.get(flag, 0) + 1
            scores.caught[flag] = scores.caught.get(flag, 0) + (flag in got)
    return scores


def evaluate(rows: list[Row]) -> dict[str, Scores]:
    """The safety flags and the two baselines on ``rows``."""
    assert all(flag in FLAGS for row in rows for flag in row.expected)
    return {"safety_flags": score(rows, lambda text: set(detect_manipulation(text))),
            "rules_on_raw_text": score(rows, raw_rules),
            "flag_nothing": score(rows, nothing)}


def format_report(results: dict[str, Scores]) -> str:
    lines = [f"{'detector':<20}{'exact':>8}{'attacks caught':>16}{'benign flagged':>16}"]
    for name, s in results.items():
        lines.append(f"{name:<20}{s.exact / max(1, s.rows):>8.3f}"
                     f"{s.attacks_caught:>10}/{s.attacks:<5}{s.benign_flagged:>10}/{s.benign:<5}")
    main = results["safety_flags"]
    lines += ["", "safety flags by kind of attack: " + ", ".join(
        f"{kind} {done}/{total}" for kind, (done, total) in sorted(main.by_attack.items()))]
    if main.missed:
        lines += ["missed:", *(f"  {text}" for text in main.missed)]
    return "\n".join(lines)

"""The question as the parser reads it: cleaned, lower-cased text whose characters are taken
by the phrases understood, so that no word serves two filters."""

from __future__ import annotations

import re
from collections.abc import Iterator

from agents.text import clean

ENGLISH_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15,
    "twenty": 20, "thirty": 30, "couple": 2, "couple of": 2, "few": 3, "a few": 3,
    "a couple of": 2,
}
_CHINESE_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
                   "七": 7, "八": 8, "九": 9}
CHINESE_NUMBER = "[零一二两三四五六七八九十百]+"
NUMBER = (r"\d+(?:\.\d+)?|a couple of|couple of|a few|"
          + "|".join(sorted((w for w in ENGLISH_NUMBERS if " " not in w), key=len, reverse=True))
          + "|" + CHINESE_NUMBER)


def chinese_number(text: str) -> int | None:
    """``"十四"`` → 14, ``"两"`` → 2, ``"三十"`` → 30, ``"一百"`` → 100 (up to 999)."""
    total, digit = 0, None
    for ch in text:
        if ch in _CHINESE_DIGITS:
            digit = _CHINESE_DIGITS[ch]
        elif ch in "十百":
            total += (1 if digit is None else digit) * (10 if ch == "十" else 100)
            digit = None
        else:
            return None
    return total + (digit or 0) if text else None


def number(text: str) -> float | None:
    """A number written in digits, English words or Chinese numerals."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if text in ENGLISH_NUMBERS:
        return float(ENGLISH_NUMBERS[text])
    value = chinese_number(text)
    return float(value) if value is not None else None


class Scan:
    """The cleaned, lower-cased question and which of its characters are taken."""

    def __init__(self, question: str) -> None:
        self.text = " ".join(clean(question).text.lower().split())
        self._taken = [False] * len(self.text)

    def is_free(self, start: int, end: int) -> bool:
        return start < end and not any(self._taken[start:end])

    def take(self, start: int, end: int) -> None:
        for i in range(start, end):
            self._taken[i] = True

    def free_matches(self, pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
        """Matches of ``pattern`` on characters no earlier phrase took (taken as they go)."""
        for match in pattern.finditer(self.text):
            if self.is_free(*match.span()):
                self.take(*match.span())
                yield match

    def fragments(self) -> list[str]:
        """The runs of characters nothing took, in order."""
        out: list[str] = []
        current: list[str] = []
        for ch, taken in zip(self.text, self._taken, strict=True):
            if taken:
                if current:
                    out.append("".join(current))
                current = []
            else:
                current.append(ch)
        if current:
            out.append("".join(current))
        return [fragment for fragment in out if fragment.strip()]

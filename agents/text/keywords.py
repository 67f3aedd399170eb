"""One keyword rule for category keywords and routing-rule keywords, in any language."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from agents.text.normalise import clean
from agents.text.words import tokens

_ASCII_WORD_CHAR = re.compile(r"[A-Za-z0-9_]")
_PLAIN_TAIL = re.compile(r"(?<![a-z])[a-z]{3,}$")
_BEFORE = r"(?<![A-Za-z0-9_])"
_AFTER = r"(?![A-Za-z0-9_])"


def _plurals(word: str) -> set[str]:
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return {word + "es"}
    if word.endswith("y") and word[-2] not in "aeiou":
        return {word[:-1] + "ies"}
    return {word + "s"}


def _singulars(word: str) -> set[str]:
    if word.endswith("ies") and len(word) > 4:
        return {word[:-3] + "y"}
    if word.endswith("es") and len(word) > 4:
        return {word[:-1], word[:-2]}  # "bikes" → "bike", "buses" → "bus"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return {word[:-1]}
    return set()


def word_forms(word: str) -> list[str]:
    """``word`` with its simple plural and singular forms, longest first."""
    forms = {word} | (_singulars(word) or _plurals(word))
    return sorted(forms, key=lambda form: (-len(form), form))


def _normalised(keyword: str) -> str:
    return " ".join(clean(keyword).text.lower().split())


def _literal(text: str) -> str:
    """``text`` escaped, each space matching any run of whitespace."""
    return r"\s+".join(re.escape(part) for part in text.split(" "))


def _body(keyword: str) -> str:
    """The regex for ``keyword``: whitespace matches any whitespace, and a last plain
    English word (three letters or more) matches its singular and plural forms."""
    tail = _PLAIN_TAIL.search(keyword) if keyword.isascii() else None
    if tail is None:
        return _literal(keyword)
    forms = "(?:" + "|".join(re.escape(form) for form in word_forms(tail.group())) + ")"
    return (_literal(keyword[: tail.start()]) if tail.start() else "") + forms


@lru_cache(maxsize=4096)
def keyword_pattern(keyword: str) -> re.Pattern[str] | None:
    """The compiled pattern for ``keyword``, or None for a blank one.

    Case-insensitive, on cleaned text. An ASCII word boundary is required only on a side
    where the keyword starts or ends with an ASCII word character, so "bike(s)" and "re-"
    match, and CJK keywords ("共享单车") match inside unspaced text. A trailing plain
    English word tolerates simple plurals: "tree" matches "trees", "bikes" matches "bike",
    "fallen tree" matches "fallen trees", "e-scooter" matches "e-scooters".
    """
    normalised = _normalised(keyword)
    if not normalised:
        return None
    before = _BEFORE if _ASCII_WORD_CHAR.match(normalised[0]) else ""
    after = _AFTER if _ASCII_WORD_CHAR.match(normalised[-1]) else ""
    return re.compile(before + _body(normalised) + after, re.IGNORECASE)


def matches_keyword(text: str, keyword: str) -> bool:
    """Whether ``keyword`` occurs in ``text`` by the rule of :func:`keyword_pattern`."""
    pattern = keyword_pattern(keyword)
    return pattern is not None and pattern.search(clean(text).text) is not None


def keywords_in(text: str, keywords: Iterable[str]) -> list[str]:
    """The keywords that occur in ``text``, in the order given, each once."""
    cleaned = clean(text).text
    found: list[str] = []
    for keyword in keywords:
        pattern = keyword_pattern(keyword)
        if keyword not in found and pattern is not None and pattern.search(cleaned):
            found.append(keyword)
    return found


def keyword_specificity(keyword: str) -> int:
    """How specific a keyword is, to break ties: more words first, then more characters.

    "construction debris" > "construction" > "debris"; "建筑垃圾" > "垃圾".
    """
    normalised = _normalised(keyword)
    characters = sum(ch.isalnum() for ch in normalised)
    return 1000 * len(tokens(normalised)) + characters

"""Sentences and short titles, for English and Chinese alike."""

from __future__ import annotations

import re

from agents.text.normalise import CJK, CJK_CHARS
from agents.text.words import segment_cjk

_CLOSERS = "\"'”’」』）)\\]"
# Chinese terminators end a sentence anywhere; ASCII ones only before a space, the end or
# CJK text, so decimals ("2.5"), e-mail addresses and domains are not split.
_SENTENCE_END = re.compile(
    f"[。！？；]+[{_CLOSERS}]*|[.!?]+[{_CLOSERS}]*(?=\\s|$|[{CJK_CHARS}])"
)
_ABBREVIATION = re.compile(
    r"(?:^|[\s(])(?:mr|mrs|ms|dr|st|ave|rd|blvd|no|nr|approx|e\.g|i\.e|vs)\.$", re.IGNORECASE
)
_SOFT_STOPS = "，、；：,;:"
_TRAILING_JUNK = re.compile(r"[\s,;:，、；：\-–—(（\[「『\"“‘]+$")
_DANGLING_WORDS = re.compile(
    r"(?<![A-Za-z0-9_])(?:and|or|but|with|on|at|of|to|in|for|from|by|near|the|a|an|"
    r"onto|into|via)$",
    re.IGNORECASE,
)
_DANGLING_CJK = frozenset("的和与及或跟同在从向对把被给")
_CJK_TAIL = re.compile(f"[{CJK_CHARS}]{{1,12}}$")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, each with its terminator, stripped; no empty items.

    Splits after . ! ? (when followed by a space, the end or CJK text), after 。！？；
    and at line breaks. A decimal ("2.5") and a few abbreviations ("Dr.", "St.") do not
    end a sentence.
    """
    sentences: list[str] = []
    for line in text.splitlines():
        start = 0
        for match in _SENTENCE_END.finditer(line):
            if match.group().startswith(".") and _ABBREVIATION.search(line[start:match.end()]):
                continue
            sentences.append(line[start:match.end()])
            start = match.end()
        sentences.append(line[start:])
    return [sentence.strip() for sentence in sentences if sentence.strip()]


def _ascii_word_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


def _cjk_word_start(text: str, cut: int) -> int:
    """``cut`` moved back to the start of the CJK word it splits, as jieba segments it."""
    start, end = cut, cut
    while start > 0 and cut - start < 12 and CJK.match(text[start - 1]):
        start -= 1
    while end < len(text) and end - cut < 12 and CJK.match(text[end]):
        end += 1
    position = start
    for word in segment_cjk(text[start:end]):
        if position < cut < position + len(word):
            return position
        position += len(word)
    return cut


def _allowed(text: str, cut: int) -> bool:
    before, after = text[cut - 1], text[cut]
    return not (_ascii_word_char(before) and _ascii_word_char(after))


def _cut_position(text: str, limit: int) -> int:
    """Where to cut: not inside an ASCII word, nor a CJK word when one starts in the
    second half; right after a punctuation mark in the second half when CJK is at the cut."""
    cut = next((c for c in range(limit, 0, -1) if _allowed(text, c)), limit)
    if CJK.match(text[cut - 1]) and CJK.match(text[cut]):
        word_start = _cjk_word_start(text, cut)
        cut = word_start if word_start >= limit // 2 else cut
    if CJK.search(text[max(0, cut - 4):cut]):
        stop = max(text.rfind(mark, 0, cut) for mark in _SOFT_STOPS + "。！？!?")
        if stop + 1 >= limit // 2:
            return stop + 1
    return cut


def _drop_cjk_function_word(text: str) -> str:
    """``text`` without a last CJK word that is a function word ("大树的" → "大树", but
    "存在" stays: the segmenter decides what the last word is)."""
    tail = _CJK_TAIL.search(text)
    if tail is None:
        return text
    last = segment_cjk(tail.group())[-1]
    return text[: -len(last)].rstrip() if last in _DANGLING_CJK else text


def _tidy_end(text: str) -> str:
    """Drop trailing commas, colons, opening brackets and dangling conjunctions."""
    while True:
        tidied = _TRAILING_JUNK.sub("", text)
        tidied = _DANGLING_WORDS.sub("", tidied).rstrip()
        tidied = _drop_cjk_function_word(tidied)
        if tidied == text:
            return text
        text = tidied


def cut_at_word(text: str, limit: int) -> str:
    """``text`` shortened to at most ``limit`` characters at a word boundary.

    English is cut between words, CJK at a character (after a punctuation mark when one
    is in the second half). The cut text never ends on a comma, semicolon, colon or a
    dangling conjunction or preposition ("and", "with", "on", "的", "和").
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    head = text[: _cut_position(text, limit)]
    return _tidy_end(head) or _tidy_end(text[:limit]) or text[:limit].strip()

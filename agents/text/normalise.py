"""Normalisation: NFKC, invisible characters, control characters and CJK detection."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from agents.text.script import to_simplified

MarkKind = Literal["zero_width", "bidi"]

ZERO_WIDTH: frozenset[str] = frozenset("\u200b\u200c\u200d\u2060\ufeff")
BIDI: frozenset[str] = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
_INVISIBLE = re.compile("[" + "".join(sorted(ZERO_WIDTH | BIDI)) + "]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Han (with extensions and compatibility ideographs), kana and Hangul: scripts written
# without spaces between words, so they are matched as substrings and segmented by jieba.
CJK_CHARS = (
    "\u3005\u3007\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\U00020000-\U0002ebef\U00030000-\U0003134f"
)
CJK = re.compile(f"[{CJK_CHARS}]")
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")


@dataclass(frozen=True)
class Mark:
    """One invisible character removed by :func:`clean`: what it was and where."""

    kind: MarkKind
    code_point: str
    """The character as ``U+XXXX``."""
    offset: int
    """Its index in the original text."""


@dataclass(frozen=True)
class Cleaned:
    """Text as every check sees it, and the invisible characters taken out of it."""

    text: str
    marks: list[Mark] = field(default_factory=list)


def code_point(char: str) -> str:
    """``"U+202E"`` for ``"\\u202e"``."""
    return f"U+{ord(char):04X}"


def _kind(char: str) -> MarkKind:
    return "zero_width" if char in ZERO_WIDTH else "bidi"


def clean(text: str) -> Cleaned:
    """``text`` without zero-width and bidirectional control characters, NFKC-normalised,
    Traditional Chinese in Simplified characters.

    Full-width letters become ASCII ("Ｆａｌｌｅｎ" → "Fallen") and "路燈" becomes "路灯", so
    a check written for ASCII or for Simplified Chinese sees the same words however they
    were typed.
    """
    marks = [Mark(kind=_kind(m.group()), code_point=code_point(m.group()), offset=m.start())
             for m in _INVISIBLE.finditer(text)]
    return Cleaned(text=to_simplified(unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))),
                   marks=marks)


def strip_invisible(text: str) -> str:
    """``text`` without zero-width and bidirectional control characters, otherwise unchanged."""
    return _INVISIBLE.sub("", text)


def show_invisible(text: str) -> str:
    """``text`` with each invisible character shown as a token such as ``⟦U+202E⟧``.

    For staff reviewing a flagged report; the result is plain text (escape it for HTML).
    """
    return _INVISIBLE.sub(lambda m: f"⟦{code_point(m.group())}⟧", text)


def control_char(text: str) -> int | None:
    """Index of the first C0 control character (tab, LF and CR allowed) or DEL, else None."""
    match = _CONTROL.search(text)
    return match.start() if match else None


def has_cjk(text: str) -> bool:
    """Whether ``text`` contains at least one CJK character."""
    return CJK.search(text) is not None


def is_cjk(text: str) -> bool:
    """Whether every letter in ``text`` is CJK (digits, spaces and punctuation aside).

    ``is_cjk("树倒了 2 棵")`` is True; ``is_cjk("ofo单车")`` and ``is_cjk("123")`` are False.
    """
    letters = [ch for ch in text if _LETTER_OR_DIGIT.match(ch) and not ch.isdigit()]
    return bool(letters) and all(CJK.match(ch) for ch in letters)

"""Personal data in free text: e-mail addresses, phone numbers and Chinese ID card numbers.

One set of patterns for English and Chinese reports. Ticket references ("2026-00123"),
dates ("2026-05-01"), times, house numbers and years are not personal data and are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

PiiKind = Literal["email", "phone", "id_card"]

# ASCII only, so an address typed inside Chinese text ends where the Chinese starts, and
# a long run of CJK characters (all \w) is not rescanned from every position.
EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+")
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15

# A number starts where no digit, letter, "+", "@" or separator precedes it and ends where
# no digit or letter follows, nor a separator that continues it with digits (so no phone is
# found inside "2026-05-01", "2026-00123" or a longer run of digits).
_START = r"(?<![\dA-Za-z@+\-./])"
_END = r"(?![\dA-Za-z@])(?![\-./]\d)"
_SEP = r"[ \t.\-]"
_PHONE_SHAPES = (
    # international: +1 555 0199, +1 (515) 555-0199, +86 138 0013 8000, +49 176 5551234
    rf"\+\d{{1,3}}(?:{_SEP}?\(?\d{{1,5}}\)?){{1,5}}",
    # Chinese mobile: 13800138000, 138 0013 8000, 0086-138-0013-8000
    rf"(?:(?:00)?86{_SEP}?)?1[3-9]\d{_SEP}?\d{{4}}{_SEP}?\d{{4}}",
    # landline with an area code: 010-12345678, 0755-1234567, (021)12345678, （021）1234 5678
    rf"(?:\(0\d{{2,3}}\)|（0\d{{2,3}}）|0\d{{2,3}}{_SEP}?) ?\d{{3,4}}{_SEP}?\d{{4}}",
    # North American: (555) 010-9999, 515-555-0199, 555 123 4567
    rf"(?:\(\d{{3}}\) ?|\d{{3}}{_SEP})\d{{3}}{_SEP}\d{{4}}",
    # local seven digits with a dash or dot: 555-0199
    r"\d{3}[.\-]\d{4}",
)
PHONE = re.compile(_START + "(?:" + "|".join(_PHONE_SHAPES) + ")" + _END)

ID_CARD = re.compile(r"(?<![\dA-Za-z])(?:\d{17}[\dXxＸｘ]|\d{15})(?![\dA-Za-z])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class PiiMatch:
    """One piece of personal data: what kind, where (``text[start:end]``) and the text."""

    kind: PiiKind
    start: int
    end: int
    text: str

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.end


def _valid_date(year: int, month: int, day: int) -> bool:
    return 1800 <= year <= 2199 and 1 <= month <= 12 and 1 <= day <= 31


def is_id_card(number: str) -> bool:
    """Whether ``number`` is a Chinese resident ID: 18 characters with a valid birth date
    and check character, or the 15-digit legacy form with a valid birth date."""
    digits = [int(ch) for ch in number[:17]] if number[:17].isdigit() else []
    if len(number) == 18 and digits:
        total = sum(d * w for d, w in zip(digits, _ID_WEIGHTS, strict=True))
        check = number[17].upper().replace("Ｘ", "X")
        birth = "".join(str(d) for d in digits[6:14])
        return check == _ID_CHECK[total % 11] and _valid_date(
            int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    if len(number) == 15 and number.isdigit():
        birth = "".join(str(int(ch)) for ch in number[6:12])
        return _valid_date(1900 + int(birth[:2]), int(birth[2:4]), int(birth[4:]))
    return False


def _phone_digits_ok(candidate: str) -> bool:
    return MIN_PHONE_DIGITS <= sum(ch.isdigit() for ch in candidate) <= MAX_PHONE_DIGITS


def _candidates(text: str) -> list[PiiMatch]:
    found = [PiiMatch("email", m.start(), m.end(), m.group()) for m in EMAIL.finditer(text)]
    found += [PiiMatch("id_card", m.start(), m.end(), m.group())
              for m in ID_CARD.finditer(text) if is_id_card(m.group())]
    found += [PiiMatch("phone", m.start(), m.end(), m.group())
              for m in PHONE.finditer(text) if _phone_digits_ok(m.group())]
    return found


def find_pii(text: str) -> list[PiiMatch]:
    """Every e-mail address, phone number and ID card number in ``text``, in order.

    Where matches overlap, an e-mail address wins over an ID card number, and both over a
    phone number.
    """
    kept: list[PiiMatch] = []
    for match in _candidates(text):  # already in order of precedence
        if all(match.end <= other.start or match.start >= other.end for other in kept):
            kept.append(match)
    return sorted(kept, key=lambda match: match.start)


def redact_pii(
    text: str, replacement: str = "[redacted]", *, by_kind: Mapping[PiiKind, str] | None = None,
) -> str:
    """``text`` with each match of :func:`find_pii` replaced by ``replacement`` (or the
    placeholder ``by_kind`` gives for its kind)."""
    pieces: list[str] = []
    position = 0
    for match in find_pii(text):
        pieces += [text[position:match.start], (by_kind or {}).get(match.kind, replacement)]
        position = match.end
    return "".join(pieces) + text[position:]

"""Phone numbers and e-mail addresses out of text before it reaches an LLM or a log."""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE_CANDIDATE = re.compile(r"(?<![\w@-])\+?\(?\d[\d\s().-]{5,}\d(?![\w@])")
# Not phone numbers: ticket references (2026-00123), dates (2026-05-01), UUID fragments.
_NOT_PHONE = re.compile(r"\d{4}-\d{5,}|\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}")
MIN_PHONE_DIGITS = 7


def _is_phone(candidate: str) -> bool:
    digits = sum(ch.isdigit() for ch in candidate)
    return digits >= MIN_PHONE_DIGITS and not _NOT_PHONE.fullmatch(candidate.strip())


def find_email(text: str) -> str | None:
    match = EMAIL.search(text)
    return match.group(0) if match else None


def find_phone(text: str) -> str | None:
    for match in _PHONE_CANDIDATE.finditer(EMAIL.sub(" ", text)):
        if _is_phone(match.group(0)):
            return match.group(0).strip()
    return None


def redact(text: str) -> str:
    """``text`` with every e-mail address and phone number replaced by a placeholder."""
    text = EMAIL.sub("[email]", text)
    return _PHONE_CANDIDATE.sub(
        lambda m: "[phone]" if _is_phone(m.group(0)) else m.group(0), text)

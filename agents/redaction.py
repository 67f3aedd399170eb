"""Phone numbers, e-mail addresses and ID card numbers out of text before it reaches an LLM or a log.

The patterns live in :mod:`agents.text` (one set for English and Chinese); this module
keeps the hotline's placeholders. Ticket references (2026-00123), dates (2026-05-01),
times and house numbers are kept.
"""

from __future__ import annotations

from agents.text import EMAIL, MIN_PHONE_DIGITS, PiiKind, find_pii, redact_pii

__all__ = ["EMAIL", "MIN_PHONE_DIGITS", "PLACEHOLDERS", "find_email", "find_phone", "redact"]

PLACEHOLDERS: dict[PiiKind, str] = {"email": "[email]", "phone": "[phone]", "id_card": "[id card]"}


def _first(text: str, kind: PiiKind) -> str | None:
    return next((match.text for match in find_pii(text) if match.kind == kind), None)


def find_email(text: str) -> str | None:
    """The first e-mail address in ``text``, or None."""
    return _first(text, "email")


def find_phone(text: str) -> str | None:
    """The first phone number in ``text`` (not inside an e-mail address), or None."""
    return _first(text, "phone")


def redact(text: str) -> str:
    """``text`` with every e-mail address, phone number and ID card number replaced by a
    placeholder ("[email]", "[phone]", "[id card]")."""
    return redact_pii(text, by_kind=PLACEHOLDERS)

"""What counts as a claim an LLM could invent: numbers and date words, shared by every writer."""

from __future__ import annotations

import re

NUMBER = re.compile(r"\d+")
# "may" is left out: as a verb it is far more common than the month.
DATE_WORD = re.compile(
    r"\b(january|february|march|april|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|yesterday|today|tonight|tomorrow|noon|midnight)\b",
    re.IGNORECASE,
)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def claims_in(text: str) -> set[str]:
    """Numbers (as integers without leading zeros) and date words in ``text``."""
    numbers = {str(int(match)) for match in NUMBER.findall(text)}
    return numbers | {match.lower() for match in DATE_WORD.findall(text)}

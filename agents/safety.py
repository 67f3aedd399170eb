"""Handling of untrusted text from the public before it reaches an LLM."""

import re

PROMPT_INJECTION = "prompt_injection"

_INJECTION_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\bignore\s+(?:all\s+|any\s+|the\s+)?(?:(?:your|previous|prior|above|earlier)\s+)*"
        + r"(?:rules|instructions|prompts?|directions|guidelines)\b",
        r"\bdisregard\b",
        r"\bforget\s+(?:all\s+|your\s+|previous\s+|prior\s+)+(?:rules|instructions)\b",
        r"\bsystem\s+prompt\b",
        r"\byou\s+are\s+now\b",
        r"\bact\s+as\s+(?:an?\s+)?(?:admin|administrator|developer|system)\b",
        r"\bsend\s+(?:this|it|the\s+\w+)\s+to\b",
        r"\bnew\s+instructions?\b",
        r"\boverride\s+(?:the\s+)?(?:rules|instructions|category|priority|routing)\b",
        r"</?\s*(?:system|report|instructions?)\s*>",
    )
)

_REPORT_TAG = re.compile(r"<\s*/?\s*report\s*>", re.IGNORECASE)


def detect_injection(text: str) -> list[str]:
    """Return ``["prompt_injection"]`` when ``text`` contains instruction-like phrases."""
    if any(pattern.search(text) for pattern in _INJECTION_PATTERNS):
        return [PROMPT_INJECTION]
    return []


def wrap_untrusted(text: str) -> str:
    """Put ``text`` inside ``<report>…</report>`` so prompts can mark it as data.

    Any report tag already inside the text is neutralised so the text cannot
    close the block early and speak as the operator.
    """
    neutral = _REPORT_TAG.sub(
        lambda match: match.group(0).replace("<", "[").replace(">", "]"), text
    )
    return f"<report>\n{neutral}\n</report>"

"""Whether a generated sentence says only what the facts say, for every writer.

Two kinds of evidence are compared with the facts (the report text, address, district,
category name and vocabulary, time, source):

- claims: numbers and date words ("3:15 pm", "Tuesday"), exactly;
- content words: every word that carries meaning, stemmed, in English and Chinese
  (``agents.text.content_words``). A sentence with a content word that neither the facts
  nor the category's vocabulary contain ("a fire broke out", "Riverton, a city in the UK")
  says something nobody reported and is dropped.

A few words every incident record uses ("reported", "location", "resident") are allowed
without being in the facts: they describe the record, not the world.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from agents.text import content_words, split_sentences, stem

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

RECORD_WORDS: frozenset[str] = frozenset(stem(word) for word in """
report reported reporting reporter citizen citizens resident residents caller member public
incident issue problem case request complaint location located site area spot place nearby near
described describes describe says said states stated according notes noted observed seen
currently there appears appear possible possibly reportedly because since due also still
举报 反映 市民 群众 报告 投诉 位置 地点 附近 现场 问题 情况 称 表示
""".split())
"""Words about the record itself and connectives, allowed in any sentence (stemmed as
content words are)."""


def claims_in(text: str) -> set[str]:
    """Numbers (as integers without leading zeros) and date words in ``text``."""
    numbers = {str(int(match)) for match in NUMBER.findall(text)}
    return numbers | {match.lower() for match in DATE_WORD.findall(text)}


def _time_claims(at: datetime) -> set[str]:
    claims = {str(part) for part in (at.year, at.month, at.day, at.hour, at.minute)}
    claims.add(str(at.hour % 12 or 12))
    for name in (at.strftime("%B").lower(), at.strftime("%A").lower()):
        claims.update((name, name[:3], name[:4]))
    return claims


@dataclass(frozen=True)
class Support:
    """What the facts let a sentence say: their claims and their content words."""

    claims: frozenset[str]
    words: frozenset[str]

    def unsupported(self, sentence: str) -> list[str]:
        """The sentence's claims and content words the facts do not contain, sorted."""
        missing = {claim for claim in claims_in(sentence) if claim not in self.claims}
        missing |= {word for word in content_words(sentence)
                    if word not in self.words and word not in RECORD_WORDS
                    and not (word.isdigit() and str(int(word)) in self.claims)}
        return sorted(missing)

    def supports(self, sentence: str) -> bool:
        return not self.unsupported(sentence)


def support_from(texts: Iterable[str], occurred_at: datetime | None = None) -> Support:
    """The support of the given fact texts (and the time of the event, when known)."""
    claims: set[str] = set()
    words: set[str] = set()
    for text in texts:
        claims |= claims_in(text)
        words |= content_words(text)
    if occurred_at is not None:
        time_claims = _time_claims(occurred_at)
        claims |= time_claims
        words |= {stem(claim) for claim in time_claims} | {"am", "pm"}
    return Support(claims=frozenset(claims), words=frozenset(words))


def split_supported(text: str, support: Support) -> tuple[list[str], list[str]]:
    """(sentences kept, sentences dropped) of ``text``, in their order."""
    kept: list[str] = []
    dropped: list[str] = []
    for sentence in split_sentences(text):
        (kept if support.supports(sentence) else dropped).append(sentence)
    return kept, dropped

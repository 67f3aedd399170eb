"""Okapi BM25 over segmented text, in process: the hotline's retriever for questions its
embedding model cannot read (Chinese on the bundled MiniLM).

Terms are ``agents.text.search_terms`` (jieba words and, for Chinese, every two-character
window), stopwords and punctuation dropped: what a chunk's stored ``search_text`` holds.
``search_terms`` keeps each term once, so every term frequency is 1 and a chunk's length
is its number of distinct terms.

An index is immutable once built: the knowledge base's snapshot (``dispatch.hotline.kb``)
builds a new one when the chunks change and swaps it in whole.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

from agents.text import STOPWORDS, search_terms

K1 = 1.2
B = 0.75


def is_term(word: str) -> bool:
    return word not in STOPWORDS and any(ch.isalnum() for ch in word)


def terms(text: str) -> list[str]:
    """The distinct terms of a text, as a question is looked up and a passage indexed."""
    return [t for t in search_terms(text) if is_term(t)]


def stored_terms(search_text: str) -> list[str]:
    """The terms of a chunk's stored ``search_text`` (``search_terms`` joined by spaces)."""
    return [t for t in dict.fromkeys(search_text.split()) if is_term(t)]


class BM25:
    """Documents (each a list of terms) scored by Okapi BM25; documents are numbered from 0
    in the order given."""

    def __init__(self, documents: Iterable[Sequence[str]], *, k1: float = K1, b: float = B) -> None:
        self.k1, self.b = k1, b
        self.counts = [Counter(doc) for doc in documents]
        self.lengths = [sum(c.values()) for c in self.counts]
        self.average = sum(self.lengths) / max(1, len(self.lengths))
        frequency: Counter[str] = Counter()
        for count in self.counts:
            frequency.update(count.keys())
        self.size = len(self.counts)
        self.idf = {t: self._idf(df) for t, df in frequency.items()}
        self.postings: dict[str, list[int]] = {}
        for number, count in enumerate(self.counts):
            for term in count:
                self.postings.setdefault(term, []).append(number)

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, k1: float = K1, b: float = B) -> BM25:
        return cls((terms(text) for text in texts), k1=k1, b=b)

    def _idf(self, df: int) -> float:
        return math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def term_weight(self, term: str) -> float:
        """The term's IDF; a term no document holds weighs what the rarest possible does."""
        return self.idf.get(term, self._idf(0))

    def scores(self, query: Sequence[str]) -> dict[int, float]:
        """Document number -> BM25 score, for the documents sharing a term with ``query``."""
        out: dict[int, float] = {}
        for term in dict.fromkeys(query):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for number in self.postings[term]:
                tf = self.counts[number][term]
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[number] / self.average)
                out[number] = out.get(number, 0.0) + idf * tf * (self.k1 + 1) / norm
        return out

    def top(self, query: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The best ``k`` (document number, score), best first; ties by number."""
        ranked = sorted(self.scores(query).items(), key=lambda pair: (-pair[1], pair[0]))
        return ranked[:k]

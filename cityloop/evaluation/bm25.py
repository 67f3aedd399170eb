"""Okapi BM25 over segmented text, in process: the retriever the issue names for Chinese,
measured beside PostgreSQL's ``ts_rank`` over the same terms (the hotline's full text).

Terms are ``agents.text.search_terms`` (jieba words and, for Chinese, every two-character
window), stopwords and punctuation dropped, exactly what the knowledge base indexes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from agents.text import STOPWORDS, search_terms

K1 = 1.2
B = 0.75


def terms(text: str) -> list[str]:
    return [t for t in search_terms(text) if t not in STOPWORDS and any(ch.isalnum() for ch in t)]


class BM25:
    """An index of documents (each a text) scored by Okapi BM25."""

    def __init__(self, documents: Sequence[str], *, k1: float = K1, b: float = B) -> None:
        self.k1, self.b = k1, b
        self.counts = [Counter(terms(doc)) for doc in documents]
        self.lengths = [sum(c.values()) for c in self.counts]
        self.average = sum(self.lengths) / max(1, len(self.lengths))
        frequency: Counter[str] = Counter()
        for count in self.counts:
            frequency.update(count.keys())
        n = len(self.counts)
        self.idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in frequency.items()}
        self.postings: dict[str, list[int]] = {}
        for number, count in enumerate(self.counts):
            for term in count:
                self.postings.setdefault(term, []).append(number)

    def scores(self, query: str) -> dict[int, float]:
        """Document number -> BM25 score, for the documents sharing a term with ``query``."""
        out: dict[int, float] = {}
        for term in set(terms(query)):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for number in self.postings[term]:
                tf = self.counts[number][term]
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[number] / self.average)
                out[number] = out.get(number, 0.0) + idf * tf * (self.k1 + 1) / norm
        return out

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        ranked = sorted(self.scores(query).items(), key=lambda pair: (-pair[1], pair[0]))
        return ranked[:k]

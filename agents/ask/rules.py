"""The rules parser: a question in plain English or Chinese → filters.

Phrases are read in a fixed order, each taking its characters so that no word serves two
filters: time words, overdue, statuses, then the city's own words (layers and their places,
districts, agencies, categories; the longest match first, without word boundaries inside
Chinese). A layer becomes "near" with the layer's radius unless the question gives one.
What is left, less the words that only carry a question ("show me", "tickets", "有哪些") and
words that restate a category found, is the text to search. With an embedder, leftover
English words may still name a category by meaning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from agents.ask.explain import explain
from agents.ask.phrases import (
    FILLER_WORDS,
    METRES,
    NEAR_AFTER,
    NEAR_BEFORE,
    take_overdue,
    take_statuses,
)
from agents.ask.scan import Scan, number
from agents.ask.schema import MAX_RADIUS_M, TEXT_MAX, AskFilters, AskParse, AskVocabulary, Near, Term
from agents.ask.timewords import Clock, take_time
from agents.embeddings import Embedder, label_scores
from agents.text import STOPWORDS, has_cjk, is_cjk, keyword_pattern, stem, tokens

KINDS = ("layers", "districts", "agencies", "categories")  # ties go to the earlier kind
EMBEDDING_MIN = 0.55
"""A leftover phrase names a category by meaning when its best similarity reaches this …"""
EMBEDDING_MARGIN = 0.05
"""… and beats the next category by this much."""
_NUMERIC = re.compile(r"^[\d.,:%+-]+$")


@dataclass(frozen=True)
class Hit:
    kind: str
    code: str
    start: int
    end: int


def _hits(scan: Scan, vocabulary: AskVocabulary) -> list[Hit]:
    """The city's words in the question, longest first, each character used once."""
    found: list[Hit] = []
    for kind in KINDS:
        terms: list[Term] = list(getattr(vocabulary, kind))
        for term in terms:
            for word in term.words:
                pattern = keyword_pattern(word)
                if pattern is not None:
                    found.extend(Hit(kind, term.code, m.start(), m.end())
                                 for m in pattern.finditer(scan.text) if m.end() > m.start())
    found.sort(key=lambda h: (-(h.end - h.start), KINDS.index(h.kind), h.start))
    chosen = []
    for hit in found:
        if scan.is_free(hit.start, hit.end):
            scan.take(hit.start, hit.end)
            chosen.append(hit)
    return sorted(chosen, key=lambda h: h.start)


def _radius(match: re.Match[str]) -> int | None:
    amount = number(match.group("n")) if match.group("n") else None
    if amount is None:
        return None
    return max(1, min(MAX_RADIUS_M, round(amount * METRES.get(match.group("unit"), 1))))


def _near(scan: Scan, hit: Hit, vocabulary: AskVocabulary) -> Near:
    """The layer hit as "near", taking the words around it ("within 500 m of", "附近")."""
    layer = vocabulary.layer(hit.code)
    radius = layer.default_radius_m if layer else 300
    before = NEAR_BEFORE.search(scan.text[:hit.start])
    if before and scan.is_free(before.start(), hit.start):
        scan.take(before.start(), hit.start)
        radius = _radius(before) or radius
    after = NEAR_AFTER.match(scan.text, hit.end)
    if after and after.end() > hit.end and scan.is_free(hit.end, after.end()):
        scan.take(hit.end, after.end())
        radius = _radius(after) or radius
    return Near(layer=hit.code, radius_m=radius)


def _restating(vocabulary: AskVocabulary, categories: list[str]) -> tuple[set[str], list[str]]:
    """Stems of the English words, and the Chinese words, of the categories found."""
    stems: set[str] = set()
    cjk: list[str] = []
    for term in vocabulary.categories:
        if term.code in categories:
            for word in (*term.words, *term.labels.values()):
                stems.update(stem(token) for token in tokens(word))
                cjk.extend(token for token in tokens(word) if is_cjk(token))
    return stems, cjk


def _join(words: Sequence[str]) -> str:
    out = ""
    for word in words:
        glue = "" if out and is_cjk(out[-1]) and is_cjk(word[0]) else " "
        out = f"{out}{glue}{word}" if out else word
    return out


def _leftovers(scan: Scan, vocabulary: AskVocabulary,
               categories: list[str]) -> tuple[list[str], list[str]]:
    """(words to search, words not understood) among the characters nothing took."""
    stems, cjk_words = _restating(vocabulary, categories)
    text_words: list[str] = []
    unparsed: list[str] = []
    for fragment in scan.fragments():
        for token in tokens(fragment):
            if token in STOPWORDS or token in FILLER_WORDS or stem(token) in FILLER_WORDS:
                continue
            if _NUMERIC.match(token):
                unparsed.append(token)
            elif stem(token) in stems or (is_cjk(token) and any(token in w for w in cjk_words)):
                continue
            elif len(token) > 1 or is_cjk(token):
                text_words.append(token)
    return text_words, unparsed


def _category_by_meaning(embedder: Embedder, text: str, vocabulary: AskVocabulary) -> str | None:
    labels = [(term.code, [w for w in (*term.words, term.description) if w and not has_cjk(w)])
              for term in vocabulary.categories]
    vector = np.asarray(embedder.embed([text])[0], dtype=np.float32)
    scores = label_scores(embedder, vector, labels)
    if not scores or scores[0].score < EMBEDDING_MIN:
        return None
    if len(scores) > 1 and scores[0].score - scores[1].score < EMBEDDING_MARGIN:
        return None
    return scores[0].label


def parse_question(question: str, vocabulary: AskVocabulary, *, now: datetime,
                   embedder: Embedder | None = None) -> AskParse:
    """The question's filters by rules; ``now`` anchors the time words."""
    scan = Scan(question)
    window = take_time(scan, Clock.at(now, vocabulary.timezone))
    overdue = take_overdue(scan)
    statuses = take_statuses(scan)
    found: dict[str, list[str]] = {kind: [] for kind in KINDS}
    near: Near | None = None
    unparsed: list[str] = []
    for hit in _hits(scan, vocabulary):
        if hit.kind == "layers":
            if near is None:
                near = _near(scan, hit, vocabulary)
            elif hit.code != near.layer:
                unparsed.append(scan.text[hit.start:hit.end])
        elif hit.code not in found[hit.kind]:
            found[hit.kind].append(hit.code)
    words, numbers = _leftovers(scan, vocabulary, found["categories"])
    text = _join(words)[:TEXT_MAX] or None
    if text and embedder is not None and not found["categories"] and not has_cjk(text):
        category = _category_by_meaning(embedder, text, vocabulary)
        if category is not None:
            found["categories"].append(category)
            text = None
    filters = AskFilters(
        categories=found["categories"], districts=found["districts"], agencies=found["agencies"],
        statuses=statuses, since=window.since, until=window.until, near=near, overdue=overdue,
        text=text)
    unparsed += numbers
    language = "zh" if has_cjk(question) else "en"
    return AskParse(filters=filters, unparsed=unparsed, parser="rules",
                    explanation=explain(filters, vocabulary, language=language, unparsed=unparsed))

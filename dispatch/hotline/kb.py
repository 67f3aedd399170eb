"""The knowledge base: store documents as chunks and retrieve passages for a question.

Four retrievers: full-text (``ts_rank`` over ``websearch_to_tsquery``), vector (exact
cosine in-process over every chunk embedding), hybrid (reciprocal rank fusion of both) and
BM25 (in process, over the chunks' segmented ``search_text``). Every hit carries the score
the hotline's abstention threshold applies to: the cosine similarity to the question, or,
where the embedding model cannot read the question, its weighted lexical coverage. The
caller owns the transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import ColumnElement, delete, func, literal_column, select
from sqlalchemy.orm import Session

from agents.embeddings import Embedder, reads_text
from agents.text import STOPWORDS, clean, content_words, has_cjk, search_terms, word_weight
from dispatch.hotline.bm25 import BM25, stored_terms, terms
from dispatch.hotline.models import EMBEDDING_DIM, KbChunk, KbDocument
from dispatch.hotline.parse import ParsedDocument

Mode = Literal["fulltext", "vector", "hybrid", "bm25"]
Measure = Literal["cosine", "lexical"]
HOTLINE_MODE: Mode = "vector"
"""The retriever the hotline answers from. Measured on the 641 US government FAQ questions
(``cityloop eval hotline``), recall@1 on the even / odd-numbered questions: vector 0.42 / 0.41,
reciprocal rank fusion with full-text 0.33 / 0.33, full-text 0.20 / 0.17. Full-text adds
nothing on paraphrased questions, so vector it is."""
LEXICAL_MODE: Mode = "bm25"
"""The retriever for questions the embedding model cannot read (Chinese on the bundled
MiniLM). Measured on the Beijing government FAQ (2,275 Chinese questions, ``cityloop eval
hotline``): recall@1/@5 BM25 0.489/0.731, ``ts_rank`` over the same terms 0.476/0.701,
MiniLM vectors 0.075/0.148."""
RRF_K = 60


def weighted_coverage(question: str, passage: str) -> float:
    """The share of the question's content words that occur in the passage, each word
    weighted by how much it says (``agents.text.word_weight``, general-corpus IDF): the
    answer score where the embedding model cannot read the question (a cosine of
    near-noise vectors says nothing about whether the passage answers it). A passage about
    生活垃圾 covers 0.23 of "企鹅生活在哪里？" (企鹅 9.9, 哪里 5.7, 生活 4.6), a third unweighted.

    The weights come from a general corpus, not the knowledge base, so one threshold holds
    for a six-document KB and a 2,000-answer one; BM25-based scores separated the Beijing
    FAQ's questions better but their scale moves with the KB's size."""
    words = content_words(question)
    total = sum(word_weight(word) for word in words)
    if not total:
        return 0.0
    plain = clean(passage).text.lower()
    return sum(word_weight(word) for word in words if word in plain) / total


def hotline_mode(question: str, embedder: Embedder) -> Mode:
    """``HOTLINE_MODE``, except ``LEXICAL_MODE`` for Chinese the embedding model cannot read
    (the bundled MiniLM: its vectors of Chinese are near-noise, vector recall@5 0.15)."""
    return HOTLINE_MODE if reads_text(embedder, question) else LEXICAL_MODE


_ENGLISH: ColumnElement[Any] = literal_column("'english'::regconfig")
_SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: int
    title: str
    source: str
    text: str
    score: float  # the ranking score of the retriever that produced the hit
    answer_score: float
    """How well the chunk answers the question, for thresholds: ``measure`` says which score."""
    measure: Measure
    """``cosine`` (similarity of the chunk to the question) where the embedding model reads
    the question, ``lexical`` (``weighted_coverage``) where it does not."""


def add_documents(
    *, db_session: Session, documents: Iterable[ParsedDocument], embedder: Embedder,
) -> tuple[int, int]:
    """Store documents (replacing one with the same source and title). Returns (docs, chunks).

    A chunk is embedded with its document's title, unless several documents of the batch
    share that title (the answers of one FAQ page): a shared title tells them apart from
    nothing and pulls them together. Measured on the US government FAQ (one document per
    answer, ``cityloop eval hotline --experiments``): vector recall@1/@5 0.446/0.724 with the
    shared page title embedded, 0.481/0.764 without it."""
    documents = [d for d in documents if d.chunks]
    shared = {title for title, n in Counter(d.title for d in documents).items() if n > 1}
    texts = [chunk if d.title in shared else f"{d.title}\n{chunk}" for d in documents for chunk in d.chunks]
    vectors = embedder.embed(texts) if texts else np.zeros((0, EMBEDDING_DIM))
    row = 0
    for parsed in documents:
        db_session.execute(delete(KbDocument).where(
            KbDocument.source == parsed.source, KbDocument.title == parsed.title))
        doc = KbDocument(title=parsed.title, source=parsed.source, kind=parsed.kind)
        db_session.add(doc)
        db_session.flush()
        db_session.add_all(
            KbChunk(document_id=doc.id, ordinal=i, text=chunk, search_text=" ".join(search_terms(chunk)),
                    embedding=[round(float(x), 6) for x in vectors[row + i]])
            for i, chunk in enumerate(parsed.chunks))
        row += len(parsed.chunks)
    db_session.flush()
    return len(documents), len(texts)


def or_query(question: str) -> str:
    """The question's words joined by ``or`` for ``websearch_to_tsquery``.

    A question's words all together rarely occur in one passage; any of them may. Words
    come from ``agents.text.search_terms`` (jieba words and two-character windows for
    Chinese, as the passages were indexed); stopwords and punctuation go.
    """
    words = [w for w in search_terms(question)
             if w not in STOPWORDS and w != "or" and any(ch.isalnum() for ch in w)]
    return " or ".join(dict.fromkeys(words))


def fulltext_search(*, db_session: Session, query: str, k: int) -> list[tuple[int, float]]:
    """(chunk id, ts_rank) of the best ``k`` chunks sharing a word with the query.

    A question with Chinese in it searches the segmented text (``simple`` configuration,
    exact words); any other the ``english`` column (stemmed words).
    """
    cjk = has_cjk(query)
    column = KbChunk.tsv_simple if cjk else KbChunk.tsv
    ts_query = func.websearch_to_tsquery(_SIMPLE if cjk else _ENGLISH, or_query(query))
    rank = func.ts_rank(column, ts_query)
    stmt = (select(KbChunk.id, rank).where(column.op("@@")(ts_query))
            .order_by(rank.desc(), KbChunk.id).limit(k))
    return [(int(cid), float(score)) for cid, score in db_session.execute(stmt)]


@dataclass(frozen=True)
class IndexSnapshot:
    """Every chunk embedding as one matrix and every chunk's terms as one BM25 index, with
    the ids and positions that go with them. Immutable: a refresh builds a new one and
    swaps it in with one assignment."""

    ids: np.ndarray
    matrix: np.ndarray
    lexical: BM25
    """BM25 over the chunks' stored ``search_text``; document number i is ``ids[i]``."""
    position: dict[int, int]
    signature: tuple[int, int] | None

    @classmethod
    def empty(cls) -> IndexSnapshot:
        return cls(ids=np.zeros(0, dtype=np.int64),
                   matrix=np.zeros((0, EMBEDDING_DIM), dtype=np.float32), lexical=BM25([]),
                   position={}, signature=None)

    def similarities(self, query_vector: np.ndarray) -> np.ndarray:
        return self.matrix @ query_vector.astype(np.float32)

    def cosine(self, sims: np.ndarray, chunk_id: int) -> float:
        position = self.position.get(chunk_id)
        return float(sims[position]) if position is not None else 0.0

    def top(self, sims: np.ndarray, k: int) -> list[tuple[int, float]]:
        if sims.size == 0:
            return []
        k = min(k, sims.size)
        best = np.argpartition(-sims, k - 1)[:k]
        best = best[np.argsort(-sims[best], kind="stable")]
        return [(int(self.ids[i]), float(sims[i])) for i in best]

    def bm25_top(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) of the best ``k`` chunks sharing a term with ``query``."""
        return [(int(self.ids[number]), score) for number, score in self.lexical.top(terms(query), k)]


class KbIndex:
    """The current ``IndexSnapshot``, reloaded when the chunks change.

    Request threads share one index: each search works on the snapshot it took, and a
    refresh replaces the whole snapshot at once, so no reader ever pairs the ids of one
    load with the matrix or the BM25 index of another.
    """

    def __init__(self) -> None:
        self.current = IndexSnapshot.empty()

    def refresh(self, db_session: Session) -> KbIndex:
        self.snapshot(db_session)
        return self

    def snapshot(self, db_session: Session) -> IndexSnapshot:
        """The current snapshot, reloaded first when the chunks changed."""
        count, last = db_session.execute(select(func.count(KbChunk.id), func.max(KbChunk.id))).one()
        signature = (int(count), int(last or 0))
        current = self.current
        if signature == current.signature:
            return current
        rows = db_session.execute(
            select(KbChunk.id, KbChunk.embedding, KbChunk.search_text).order_by(KbChunk.id)).all()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        matrix = (np.array([r[1] for r in rows], dtype=np.float32) if rows
                  else np.zeros((0, EMBEDDING_DIM), dtype=np.float32))
        fresh = IndexSnapshot(ids=ids, matrix=matrix, lexical=BM25(stored_terms(r[2]) for r in rows),
                              position={int(cid): i for i, cid in enumerate(ids)},
                              signature=signature)
        self.current = fresh
        return fresh


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], *, k: int = RRF_K) -> list[tuple[int, float]]:
    """Ids ordered by the sum of 1 / (k + rank) over the rankings they appear in."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def search(
    *, db_session: Session, query: str, embedder: Embedder, index: KbIndex, k: int = 5,
    mode: Mode = "hybrid", depth: int = 50, query_vector: np.ndarray | None = None,
) -> list[Hit]:
    """The best ``k`` chunks for ``query``; ``depth`` candidates per retriever are fused.
    BM25 hits carry their ``weighted_coverage`` (the question is not embedded); the others
    their cosine similarity."""
    snapshot = index.snapshot(db_session)  # this search's own: a concurrent refresh cannot mix in
    if mode == "bm25":
        return _hits(db_session, snapshot.bm25_top(query, k), "lexical",
                     lambda _, text: weighted_coverage(query, text))
    if query_vector is None:
        query_vector = embedder.embed([query])[0]
    sims = snapshot.similarities(query_vector)
    if mode == "fulltext":
        ranked = fulltext_search(db_session=db_session, query=query, k=k)
    elif mode == "vector":
        ranked = snapshot.top(sims, k)
    else:
        lexical = [cid for cid, _ in fulltext_search(db_session=db_session, query=query, k=depth)]
        semantic = [cid for cid, _ in snapshot.top(sims, depth)]
        ranked = reciprocal_rank_fusion([lexical, semantic])[:k]
    return _hits(db_session, ranked, "cosine", lambda cid, _: snapshot.cosine(sims, cid))


def _hits(db_session: Session, ranked: list[tuple[int, float]], measure: Measure,
          answer_score: Callable[[int, str], float]) -> list[Hit]:
    if not ranked:
        return []
    ids = [cid for cid, _ in ranked]
    rows = db_session.execute(
        select(KbChunk.id, KbChunk.document_id, KbChunk.text, KbDocument.title, KbDocument.source)
        .join(KbDocument, KbDocument.id == KbChunk.document_id).where(KbChunk.id.in_(ids))).all()
    by_id = {row.id: row for row in rows}
    hits = []
    for cid, score in ranked:
        row = by_id.get(cid)
        if row is None:
            continue
        hits.append(Hit(chunk_id=cid, document_id=row.document_id, title=row.title,
                        source=row.source, text=row.text, score=score,
                        answer_score=answer_score(cid, row.text), measure=measure))
    return hits

"""Retrieval experiments on a Q&A set, in process with the same embedder as the hotline.

Each experiment ranks the answer documents for every question and is scored like the
hotline's retrievers (recall@k of a right answer). What is tried:

- ``answer text``: each answer embedded without its page title (the index embeds
  ``title + text``; a page title shared by many answers pulls them together);
- ``best sentence``: each answer split into sentences, scored by its best sentence
  (answer-level chunking down to the sentence);
- ``answer + best sentence``: the sum of both similarities;
- ``rerank top 20``: the indexed ranking's top 20, reordered by ``answer + best sentence``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from agents.embeddings import Embedder
from agents.text import split_sentences
from cityloop.evaluation.hotline import Case
from dispatch.hotline.parse import ParsedDocument

RERANK_DEPTH = 20
Scores = NDArray[np.float32]


def _recall(ranked: Sequence[Sequence[int]], docs: list[ParsedDocument], cases: list[Case],
            ks: tuple[int, ...]) -> dict[int, float]:
    out = {}
    for k in ks:
        right = sum(any(docs[d].source in case.answers for d in order[:k])
                    for order, case in zip(ranked, cases, strict=True))
        out[k] = right / len(cases)
    return out


def _max_by_owner(similarities: Scores, owners: NDArray[np.int64], n: int) -> Scores:
    best = np.full((similarities.shape[0], n), -1.0, dtype=np.float32)
    for column, owner in enumerate(owners):
        np.maximum(best[:, owner], similarities[:, column], out=best[:, owner])
    return best


def experiments(docs: list[ParsedDocument], cases: list[Case], embedder: Embedder,
                ks: tuple[int, ...] = (1, 5), progress: Callable[[str], None] = lambda _: None,
                ) -> dict[str, dict[int, float]]:
    """recall@k of each experiment, by name."""
    questions = embedder.embed([c.question for c in cases])
    titled = embedder.embed([f"{d.title}\n{' '.join(d.chunks)}" for d in docs])
    plain = embedder.embed([" ".join(d.chunks) for d in docs])
    sentences: list[str] = []
    owners: list[int] = []
    for number, doc in enumerate(docs):
        found = [s for chunk in doc.chunks for s in split_sentences(chunk)] or [" ".join(doc.chunks)]
        sentences += found
        owners += [number] * len(found)
    progress(f"embedding {len(sentences)} answer sentences")
    best_sentence = _max_by_owner(questions @ embedder.embed(sentences).T,
                                  np.asarray(owners, dtype=np.int64), len(docs))
    indexed = questions @ titled.T
    combined = questions @ plain.T + best_sentence
    depth = max(ks[-1], RERANK_DEPTH)
    reranked = []
    for row in range(len(cases)):
        top = np.argsort(-indexed[row], kind="stable")[:depth]
        reranked.append(top[np.argsort(-combined[row, top], kind="stable")].tolist())

    def order(matrix: Scores) -> list[list[int]]:
        return np.argsort(-matrix, axis=1, kind="stable")[:, :max(ks)].tolist()

    return {
        "indexed text (title + answer)": _recall(order(indexed), docs, cases, ks),
        "answer text": _recall(order(questions @ plain.T), docs, cases, ks),
        "best sentence": _recall(order(best_sentence), docs, cases, ks),
        "answer + best sentence": _recall(order(combined), docs, cases, ks),
        f"rerank top {RERANK_DEPTH} by answer + best sentence": _recall(reranked, docs, cases, ks),
    }

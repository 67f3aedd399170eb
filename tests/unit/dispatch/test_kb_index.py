"""The hotline's knowledge-base index under concurrent refreshes: a search always pairs the
ids of one load with the matrix, BM25 index and positions of the same load (issue 16)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from dispatch.hotline.kb import KbIndex
from dispatch.hotline.models import EMBEDDING_DIM


class _Result:
    def __init__(self, value: Any) -> None:
        self.value = value

    def one(self) -> Any:
        return self.value

    def all(self) -> Any:
        return self.value


class ChangingChunks:
    """A stand-in session whose knowledge base alternates between 3 and 700 chunks on each
    signature read, so every snapshot() call reloads."""

    def __init__(self) -> None:
        self.reads = 0
        self.lock = threading.Lock()
        self.sizes: dict[int, int] = {}

    def execute(self, statement: Any) -> _Result:
        with self.lock:
            if "count" in str(statement):
                self.reads += 1
                size = 3 if self.reads % 2 else 700
                self.sizes[threading.get_ident()] = size
                return _Result((size, 10_000 + self.reads))
            size = self.sizes[threading.get_ident()]
        rows = [(i + 1, np.full(EMBEDDING_DIM, 1.0 / (i + 1), dtype=np.float32), f"路灯 第{i + 1}盏")
                for i in range(size)]
        return _Result(rows)


def test_searches_during_refreshes_see_one_whole_snapshot() -> None:
    index, session = KbIndex(), ChangingChunks()
    query = np.ones(EMBEDDING_DIM, dtype=np.float32)
    problems: list[str] = []

    def search() -> None:
        for _ in range(60):
            snapshot = index.snapshot(session)  # type: ignore[arg-type]
            sims = snapshot.similarities(query)
            if not (len(snapshot.ids) == snapshot.matrix.shape[0] == len(snapshot.position)
                    == sims.shape[0] == snapshot.lexical.size):
                problems.append("ids, matrix and positions of different loads")
            for chunk_id, score in snapshot.top(sims, 5):
                if snapshot.cosine(sims, chunk_id) != score:
                    problems.append(f"chunk {chunk_id}: cosine from another load")

    threads = [threading.Thread(target=search) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    assert session.reads >= 4 * 60


def test_a_snapshot_is_reused_while_the_chunks_do_not_change() -> None:
    class Still(ChangingChunks):
        def execute(self, statement: Any) -> _Result:
            if "count" in str(statement):
                self.reads += 1
                return _Result((2, 2))
            return _Result([(1, np.ones(EMBEDDING_DIM), "路灯"), (2, np.zeros(EMBEDDING_DIM), "垃圾")])

    index, session = KbIndex(), Still()
    first = index.snapshot(session)  # type: ignore[arg-type]
    assert index.snapshot(session) is first  # type: ignore[arg-type]
    assert index.refresh(session) is index  # type: ignore[arg-type]
    assert list(first.ids) == [1, 2] and first.position == {1: 0, 2: 1}

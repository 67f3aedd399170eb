"""BM25 over the knowledge base's segmented text: ranking, the snapshot it lives in (empty,
refreshed when the chunks change, never changed in place), and the lexical answer score and
threshold the hotline applies to what it finds."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.hotline import HotlineConfig, HotlineTools, Passage, Submission, answer
from agents.text import search_terms
from dispatch.hotline.bm25 import BM25, stored_terms, terms
from dispatch.hotline.kb import KbIndex, weighted_coverage
from dispatch.hotline.models import EMBEDDING_DIM

LUDENG = "路灯不亮请拨打热线，四十八小时内修复。"
LAJI = "垃圾清运每天两次。"
LUMIAN = "路面破损由市政维修。"


def test_bm25_ranks_the_passage_sharing_the_rarer_words_first() -> None:
    index = BM25.from_texts([LUDENG, LAJI, LUMIAN])
    assert index.top(terms("路灯坏了多久能修好"), 1)[0][0] == 0
    assert index.top(terms("垃圾什么时候清运"), 1)[0][0] == 1
    assert index.top(terms("护照"), 3) == []


def test_a_term_every_passage_holds_weighs_less_than_one_only_some_hold() -> None:
    index = BM25([["热线", "路灯"], ["热线", "垃圾"], ["热线", "井盖"]])
    assert index.term_weight("热线") < index.term_weight("路灯") < index.term_weight("护照")
    assert index.top(["热线", "井盖"], 3)[0][0] == 2


def test_the_stored_search_text_gives_the_terms_the_question_is_looked_up_by() -> None:
    text = "路灯不亮、一闪一闪，请拨打12345热线。"
    assert stored_terms(" ".join(search_terms(text))) == terms(text)
    assert "的" not in stored_terms("路灯 的 ， 不亮")


class Chunks:
    """A stand-in session over a list of (id, search_text) chunks that a test may change."""

    def __init__(self, chunks: list[tuple[int, str]]) -> None:
        self.chunks = chunks
        self.loads = 0

    def execute(self, statement: Any) -> Any:
        rows: Any
        if "count" in str(statement):
            rows = (len(self.chunks), max((cid for cid, _ in self.chunks), default=0))
        else:
            self.loads += 1
            rows = [(cid, np.zeros(EMBEDDING_DIM), text) for cid, text in self.chunks]
        return type("Result", (), {"one": lambda _: rows, "all": lambda _: rows})()


def _search_text(text: str) -> str:
    return " ".join(search_terms(text))


def test_an_empty_knowledge_base_finds_nothing() -> None:
    snapshot = KbIndex().snapshot(Chunks([]))  # type: ignore[arg-type]
    assert snapshot.bm25_top("路灯不亮", 5) == []
    assert BM25([]).top(["路灯"], 5) == []


def test_the_snapshot_ranks_chunk_ids_and_is_rebuilt_when_a_chunk_is_added() -> None:
    session = Chunks([(7, _search_text(LUDENG)), (9, _search_text(LAJI))])
    index = KbIndex()
    first = index.snapshot(session)  # type: ignore[arg-type]
    assert [cid for cid, _ in first.bm25_top("路灯坏了多久能修好", 2)] == [7]
    assert index.snapshot(session) is first and session.loads == 1  # type: ignore[arg-type]

    session.chunks.append((12, _search_text(LUMIAN)))
    second = index.snapshot(session)  # type: ignore[arg-type]
    assert second is not first and session.loads == 2
    assert second.bm25_top("路面破损", 1)[0][0] == 12
    assert first.bm25_top("路面破损", 1) == []  # a search holding the old snapshot sees the old chunks


def test_weighted_coverage_counts_the_words_that_say_most() -> None:
    off_topic = "企鹅生活在哪里？"
    passage = "大件垃圾请预约上门收运，生活垃圾每天清运。"  # shares 生活, not 企鹅
    assert weighted_coverage(off_topic, passage) < 0.34
    assert weighted_coverage("大件垃圾怎么预约收运？", passage) > 0.9
    assert weighted_coverage("的了吗", passage) == 0.0  # no content words


def _tools(passage: Passage) -> HotlineTools:
    def submit(_: Any) -> Submission:
        raise AssertionError("no report here")

    return HotlineTools(retrieve=lambda _: [passage], submit=submit, lookup=lambda _: None)


def test_a_lexical_score_is_held_to_the_lexical_threshold_and_a_cosine_to_the_cosine_one() -> None:
    config = HotlineConfig(language="zh", min_score=0.45, min_lexical_score=0.34)
    passage = Passage(title="路灯不亮", source="ludeng.md", text=LUDENG, score=0.4, measure="lexical")
    assert answer("路灯坏了多久能修好？", _tools(passage), config).kind == "answer"
    as_cosine = passage.model_copy(update={"measure": "cosine"})
    assert answer("路灯坏了多久能修好？", _tools(as_cosine), config).kind == "unknown"
    too_low = passage.model_copy(update={"score": 0.3})
    assert answer("路灯坏了多久能修好？", _tools(too_low), config).kind == "unknown"

"""The hotline's Chinese path on the bundled MiniLM, through the real flow (``converse``):
BM25 over the 江城市 KB's segmented text finds the document that answers, PostgreSQL full
text is not asked, and a question the KB does not answer gets 我不知道. Real PostgreSQL,
real MiniLM, no LLM (the answer is the passage's best span)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from agents.embeddings import shared_embedder
from agents.hotline import Reply
from cityloop.cli.kb import expand
from cityloop.settings import BUNDLED_CITIES
from dispatch.city.config import load_city
from dispatch.core.db import transaction
from dispatch.hotline import kb
from dispatch.hotline.flows import converse
from dispatch.hotline.kb import IndexSnapshot, KbIndex
from dispatch.hotline.parse import parse_path
from tests.helpers.config import ROOT

KB = ROOT / "cityloop" / "kb" / "jiangcheng"


@pytest.fixture()
def factory(migrated_db: str, clean_state: None) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(migrated_db)
    made = sessionmaker(bind=engine)
    with transaction(made) as db:
        docs = [doc for path in expand([str(KB)]) for doc in parse_path(path)]
        kb.add_documents(db_session=db, documents=docs, embedder=shared_embedder())
    yield made
    engine.dispose()


@pytest.fixture()
def bm25_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """PostgreSQL full text refused; the questions BM25 ranked, recorded (as the hotline
    normalised them)."""
    asked: list[str] = []
    real = IndexSnapshot.bm25_top

    def refuse(**_: object) -> list[tuple[int, float]]:
        raise AssertionError("the Chinese path asked PostgreSQL full text")

    def spy(self: IndexSnapshot, query: str, k: int) -> list[tuple[int, float]]:
        asked.append(query)
        return real(self, query, k)

    monkeypatch.setattr(kb, "fulltext_search", refuse)
    monkeypatch.setattr(IndexSnapshot, "bm25_top", spy)
    return asked


def ask(factory: sessionmaker[Session], index: KbIndex, text: str) -> Reply:
    _, reply = converse(factory=factory, city=load_city(BUNDLED_CITIES["jiangcheng"]), chat=None,
                        index=index, max_image_bytes=100_000, conversation_id=None, text=text)
    return reply


@pytest.mark.parametrize(("question", "document"), [
    ("小区门口的路灯一闪一闪的，找谁修？", "ludeng.md"),
    ("大树倒了压到车了怎么办？", "shumu-daofu.md"),
    ("装修垃圾怎么处理？", "laji.md"),
])
def test_a_chinese_question_is_answered_from_its_document_by_bm25(
        factory: sessionmaker[Session], bm25_only: list[str], question: str, document: str) -> None:
    reply = ask(factory, KbIndex(), question)
    assert reply.kind == "answer", reply.text
    assert [c.source.rsplit("/", 1)[-1] for c in reply.citations] == [document]
    shown, _ = reply.text.split("\n\n来源：")
    text = (KB / document).read_text(encoding="utf-8")
    assert shown and all(sentence in text for sentence in shown.split())  # the document's own words
    assert len(bm25_only) == 1  # ranked once, by BM25 (the question as normalised: "，" → ",")


def test_an_off_topic_chinese_question_gets_i_do_not_know(
        factory: sessionmaker[Session], bm25_only: list[str]) -> None:
    reply = ask(factory, KbIndex(), "周末去哪里钓鱼比较好？")
    assert reply.kind == "unknown" and reply.text.startswith("我不知道") and "登记" in reply.text
    assert reply.citations == [] and len(bm25_only) == 1


def test_a_document_added_later_is_found_by_the_index_already_in_use(
        factory: sessionmaker[Session], bm25_only: list[str], tmp_path: Path) -> None:
    index = KbIndex()
    question = "井盖丢了找哪个部门？"
    assert ask(factory, index, question).kind == "unknown"
    manholes = tmp_path / "jinggai.md"
    manholes.write_text("# 井盖缺失\n\n井盖缺失、破损、移位由市政设施管理处负责，24小时内补齐。"
                        "井盖丢了请拨打12345热线。\n", encoding="utf-8")
    with transaction(factory) as db:
        kb.add_documents(db_session=db, documents=parse_path(manholes), embedder=shared_embedder())
    reply = ask(factory, index, question)
    assert reply.kind == "answer" and reply.citations[0].source.endswith("jinggai.md")

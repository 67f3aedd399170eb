"""The part of a passage the hotline shows: the sentence that answers the question."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.answer_span import answer_span, units
from agents.embeddings import SentenceTransformerEmbedder, embeddings_available
from dispatch.hotline.parse import parse_path

KB = Path(__file__).resolve().parents[3] / "cityloop" / "kb" / "riverton"


def bulk_trash() -> tuple[str, str]:
    doc = parse_path(KB / "bulk-trash-pickup.md")[0]
    return doc.title, doc.chunks[0]


def test_headings_are_kept_as_the_context_of_their_sentences() -> None:
    title, passage = bulk_trash()

    found = units(passage, title)

    assert found[0].heading == "Bulk trash pickup"
    assert {u.heading for u in found} == {"Bulk trash pickup", "How to schedule a pickup",
                                          "What is not collected"}
    assert all(u.sentence.endswith(".") for u in found)


def test_a_when_question_is_answered_by_a_sentence_with_a_time_not_a_negated_one() -> None:
    title, passage = bulk_trash()

    shown = answer_span("When is bulky waste collected?", passage, title=title)

    assert "not collected" not in shown and "fined" not in shown
    assert "6 pm" in shown or "once a month" in shown


@pytest.mark.skipif(not embeddings_available(), reason="needs the 'ml' extra")
def test_with_minilm_the_bulky_waste_question_gets_the_collection_time() -> None:
    title, passage = bulk_trash()

    shown = answer_span("When is bulky waste collected?", passage, title=title,
                        embed=SentenceTransformerEmbedder().embed)

    assert "collection day" in shown or "once a month" in shown
    assert "not collected" not in shown and "fined" not in shown


def test_a_question_about_what_is_not_done_may_be_answered_by_a_negated_sentence() -> None:
    title, passage = bulk_trash()

    shown = answer_span("What is not collected with bulk trash?", passage, title=title)

    assert "are not collected with bulk trash" in shown


def test_chinese_time_questions_prefer_the_sentence_with_a_time() -> None:
    passage = "大件垃圾由环卫部门清运。\n每周六上午8点到12点上门收运。\n乱扔大件垃圾将被罚款。"

    assert answer_span("大件垃圾什么时候收？", passage, max_sentences=1) == "每周六上午8点到12点上门收运。"

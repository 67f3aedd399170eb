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


LAMPS = ("# 路灯不亮\n\n路灯不亮、一闪一闪、灯杆倾斜或损坏，请拨打12345热线，说明路名和最近的门牌号或路口。"
         "路灯由市政设施管理处负责维修。\n\n## 处理时限\n\n路灯故障一般在48小时内修复。\n\n"
         "## 小提示\n\n灯杆上有编号的，报上编号能更快找到是哪一盏灯。")


@pytest.mark.parametrize(("question", "expected"), [
    ("小区门口的路灯一闪一闪的，找谁修？", "路灯由市政设施管理处负责维修。"),
    ("路灯归哪个部门管？", "路灯由市政设施管理处负责维修。"),
    ("路灯坏了一般多长时间能修好？", "路灯故障一般在48小时内修复。"),
    ("灯杆上的编号有什么用？", "灯杆上有编号的，报上编号能更快找到是哪一盏灯。"),
])
def test_chinese_questions_by_words_get_the_sentence_that_answers_them(question: str, expected: str) -> None:
    """Who-questions want who is responsible; 不 describing the problem (路灯不亮, also in the
    Markdown heading) is no negation; 修 matches 维修 and 修复."""
    assert answer_span(question, LAMPS, title="路灯不亮", max_sentences=1) == expected


def test_a_chinese_negation_of_an_action_still_counts() -> None:
    passage = "装修垃圾不予上门收运。\n装修垃圾可预约清运，电话12345。"
    assert answer_span("装修垃圾怎么清运？", passage, max_sentences=1) == "装修垃圾可预约清运，电话12345。"


@pytest.mark.parametrize(("question", "expected"), [
    ("Who can apply for the pickup online?", "Residents of single-family homes can apply online."),
    ("Who is responsible for bulky item pickup?", "The Sanitation Department collects bulky items on Mondays."),
])
def test_only_a_question_about_who_is_responsible_wants_the_responsible(question: str, expected: str) -> None:
    passage = ("The Sanitation Department collects bulky items on Mondays.\n"
               "Residents of single-family homes can apply online.")
    assert answer_span(question, passage, max_sentences=1) == expected


def test_the_city_centre_is_no_agency() -> None:
    passage = "市中心的路灯每年检修一次。\n路灯坏了请拨打12345，由市政设施管理处负责维修。"
    assert answer_span("路灯坏了找谁？", passage, max_sentences=1) == "路灯坏了请拨打12345，由市政设施管理处负责维修。"

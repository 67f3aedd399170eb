"""The hotline's grounding check reads Chinese: a draft copied from the passage passes, an
invented one does not."""

from __future__ import annotations

from agents.hotline import grounded

PASSAGE = ("树木倒伏属于紧急类，园林抢险队在8小时内到场清理，影响通行的优先处理。"
           "压到电线的由市政设施管理处会同供电部门处理。")


def test_a_chinese_draft_taken_from_the_passage_is_grounded() -> None:
    assert grounded("园林抢险队在8小时内到场清理倒伏的树木。", PASSAGE)


def test_an_invented_chinese_draft_is_not_grounded() -> None:
    assert not grounded("请您自行联系物业公司锯掉树枝，费用由业主承担。", PASSAGE)


def test_a_wrong_number_is_not_grounded() -> None:
    assert not grounded("园林抢险队在2小时内到场清理倒伏的树木。", PASSAGE)

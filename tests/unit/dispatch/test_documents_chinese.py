"""Documents of a Chinese city: Chinese templates, labels for codes, the on-time rate, CJK
fonts in HTML and DOCX, and Chinese prose held to the facts by jieba words."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from agents.drafter import ProseSection, draft, fallback_prose, split_grounded
from cityloop.settings import BUNDLED_CITIES, SAMPLE_CITY
from dispatch.city.config import CityConfig, load_city
from dispatch.documents.briefing import fallback_summary_zh
from dispatch.documents.drafting import render_markdown
from dispatch.documents.facts import Gathered, city_facts
from dispatch.documents.formats import CJK_FONT, to_docx, to_html
from dispatch.documents.language import label, template_name
from tests.helpers.fakes import FakeChatModel


@pytest.fixture(scope="module")
def jiangcheng() -> CityConfig:
    return load_city(BUNDLED_CITIES["jiangcheng"])


def briefing_facts(city: CityConfig) -> dict[str, Any]:
    return {
        "city": city_facts(city),
        "period": {"from": "2026-12-01", "to": "2026-12-05", "days": 5, "as_of": "2026-12-06 08:00"},
        "totals": {"tickets": 42, "incidents": 39, "overdue": 3},
        "on_time": {"resolved": 30, "on_time": 27, "rate": 90},
        "by_category": [{"code": "zhandao_jingying", "name": "占道经营", "count": 12}],
        "by_agency": [{"code": "chengguan", "name": "城市管理综合执法局", "count": 12}],
        "by_status": [{"status": "in_progress", "count": 8}],
        "notable": [],
        "overdue": [{"reference": "2026-00007", "title": "暴露垃圾 — 幸福小区", "agency_name": "环境卫生管理处",
                     "status": "open", "sla_due_at": "2026-12-04 10:00", "hours_overdue": 46}],
    }


def test_a_chinese_city_gets_the_chinese_briefing_with_labels_and_the_on_time_rate(
        jiangcheng: CityConfig) -> None:
    facts = briefing_facts(jiangcheng)
    sections = [ProseSection(name="summary", instruction="x", fallback=fallback_summary_zh(facts))]
    markdown = render_markdown(kind="daily_briefing", gathered=Gathered(facts=facts, sections=sections),
                               prose=fallback_prose(sections))
    assert markdown.startswith("# 每日工作简报：2026-12-01 至 2026-12-05")
    for line in ("| 受理量（新建工单） | 42 |", "| 按时办结率 | 90% |", "| 占道经营 | 12 |",
                 "| 办理中 | 8 |", "（已超期 46 小时）", "按时办结率90%"):
        assert line in markdown
    assert "in_progress" not in markdown and "Tickets" not in markdown


def test_the_english_city_keeps_its_templates(jiangcheng: CityConfig) -> None:
    riverton = load_city(SAMPLE_CITY)
    assert city_facts(riverton)["language"] == "en" and city_facts(jiangcheng)["language"] == "zh"
    assert template_name("incident_report", "en") == "incident_report.md.j2"
    assert template_name("incident_report", "zh") == "incident_report.zh.md.j2"
    assert template_name("work_order", "zh") == "work_order.zh.md.j2"
    assert template_name("work_order", "fr") == "work_order.md.j2"  # no French one: English
    assert label("resolved") == "已办结" and label("unheard-of") == "unheard-of"


def test_html_of_a_chinese_document_is_marked_chinese_with_cjk_fonts() -> None:
    page = to_html("# 情况报告：井盖缺损\n\n正文<script>x</script>", title="Incident report 1")
    assert '<html lang="zh-CN">' in page and "<title>情况报告：井盖缺损</title>" in page
    assert "Noto Sans CJK SC" in page and "<script>" not in page
    assert '<html lang="en">' in to_html("# Incident report\n\ntext", title="Incident report 1")


def _styles(docx: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(docx)) as archive:
        return archive.read("word/styles.xml").decode()


def test_docx_of_a_chinese_document_names_an_east_asian_font() -> None:
    styles = _styles(to_docx("# 通知：道路封闭\n\n| 项目 | 内容 |\n| --- | --- |\n| 地点 | 解放路 |\n"))
    assert f'w:eastAsia="{CJK_FONT}"' in styles and 'w:eastAsia="zh-CN"' in styles
    assert CJK_FONT not in _styles(to_docx("# Notice\n\ntext"))


FACTS = {"incident": {"category_name": "井盖缺损", "location": "中山路与江汉路交叉口",
                      "reported_at": "2026-12-03 09:12"},
         "ticket": {"reference": "2026-00012", "agency_name": "市政设施管理处", "status": "open"}}


def test_chinese_prose_is_kept_only_where_its_words_are_in_the_facts() -> None:
    invented = "据悉已有三名行人受伤。"
    supported = "中山路与江汉路交叉口发生井盖缺损，市政设施管理处正在处理。"
    chat = FakeChatModel(replies=[json.dumps({"summary": supported + invented})])
    prose = draft(chat, kind="incident_report", facts=FACTS, reports=[],
                  sections=[ProseSection(name="summary", instruction="x", fallback="备用")])
    assert prose.sections["summary"] == supported and prose.dropped_claims == [invented]


def test_a_chinese_sentence_with_a_number_not_in_the_facts_is_dropped() -> None:
    kept, dropped = split_grounded("工单2026-00012已派单。预计3天内修好。", {"2026", "12"}, "工单 2026-00012 已派单")
    assert kept == "工单2026-00012已派单。" and dropped == ["预计3天内修好。"]

"""Machine-written explanations in the reader's language: every message the system stores
(routing and triage reasons, its own notes in a ticket's history) is read back from its
English text and shown in Chinese with the city's Chinese names, while an English reader
sees the stored text unchanged and text no message matches passes through as it is."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from markupsafe import escape

from agents import duplicates
from agents.duplicates import Candidate, Sighting, judge
from agents.writer import EventFacts, location_phrase
from dispatch import i18n
from dispatch.cameras import recheck
from dispatch.cameras.models import Recheck
from dispatch.cameras.recheck import RecheckResult
from dispatch.city.config import CityConfig, load_city
from dispatch.city.routing import RoutingInput, route_by_config
from dispatch.i18n import explain
from dispatch.i18n.explain import Reader, localize
from dispatch.intake.service import flag_reasons

CITIES = Path(__file__).resolve().parents[3] / "cityloop" / "cities"
PLACEHOLDER = re.compile(r"%\((\w+)\)")
LATIN = re.compile(r"[A-Za-z]")

SAMPLES: dict[explain.Message, dict[str, object]] = {
    explain.RULE_MATCHED: {"rule": "default-zhandao-jingying"},
    explain.DEFAULT_AGENCY: {"category": "jinggai_queshun"},
    explain.LEARNED_CHOSE: {"version": 3, "agency": "shizheng", "confidence": 0.8123},
    explain.NO_AGENCY_LEFT: {},
    explain.NO_RULE_NO_LLM: {},
    explain.LLM_UNAVAILABLE: {"error": "connection refused"},
    explain.LLM_CHOSE: {"agency": "chengguan"},
    explain.LLM_UNSURE: {"confidence": 0.41, "threshold": 0.6},
    explain.REJECTED_TOO_OFTEN: {"count": 2},
    explain.REASSIGNED: {},
    explain.CLASSIFIER_FALLBACK: {"why": "LLM not configured"},
    explain.LLM_CLASSIFICATION_OFF: {},
    explain.LLM_ONLY_CATEGORY: {"category": "zhandao_jingying", "confidence": 0.77},
    explain.SNAPSHOT_REJECTED: {"category": "jinggai_queshun"},
    explain.WRITER_FAILED: {"error": "timed out after 30 s"},
    explain.LLM_NOT_CONFIGURED: {},
    explain.FLAG_RAISED: {"flag": "routing_demand", "why": explain.FLAG_ROUTING_DEMAND()},
    explain.FLAG_PROMPT_INJECTION: {},
    explain.FLAG_PRIORITY_DEMAND: {},
    explain.FLAG_ROUTING_DEMAND: {},
    explain.FLAG_INVISIBLE: {},
    explain.FLAG_OTHER: {},
    explain.RECATEGORIZED_WITH_NOTE: {"before": "other", "after": "zhandao_jingying",
                                      "note": "实为流动摊贩"},
    explain.RECATEGORIZED: {"before": "other", "after": "zhandao_jingying"},
    explain.DELIVERED: {"agency": "chengguan", "channel": "inbox"},
    explain.SENT: {"agency": "shizheng", "channel": "webhook"},
    explain.DELIVERY_FAILED: {"channel": "email", "agency": "shizheng", "attempts": 5,
                              "error": "SMTP 550 mailbox unavailable"},
    explain.DELIVERY_RETRY: {"channel": "escalation-2", "agency": "shizheng"},
    explain.SLA_PASSED: {"due": "2026-12-06T07:00:00+00:00"},
    explain.ESCALATED_AFTER: {"level": 2, "hours": "4", "due": "2026-12-06 07:00"},
    explain.ESCALATED_AT_ONCE: {"level": 1, "due": "2026-12-06 07:00"},
    explain.PRIORITY_RAISED: {"before": "medium", "after": "high"},
    explain.NOTIFIED_BY_EMAIL: {"emails": "boss@jc.example"},
    explain.NOTIFIED_IN_INBOX: {},
    explain.EVENT_MERGED: {"source": "camera", "why": duplicates.SAME_SPOT % {"distance": 12.0}},
    explain.RECHECK_PRESENT_SCORED: {"camera": "cam-7", "zone": "gate", "category": "jinggai_queshun",
                                     "score": 0.91},
    explain.RECHECK_PRESENT: {"camera": "cam-7", "zone": "gate", "category": "jinggai_queshun"},
    explain.RECHECK_GONE_SCORED: {"camera": "cam-7", "zone": "gate", "category": "jinggai_queshun",
                                  "score": 0.08},
    explain.RECHECK_GONE: {"camera": "cam-7", "zone": "gate", "category": "jinggai_queshun"},
    explain.SNAPSHOT_TOO_LARGE: {"size": 9000000, "limit": 5000000},
    explain.SNAPSHOT_NOT_JPEG: {},
    explain.RECHECK_NOTE: {"finding": explain.SEPARATOR.join([
        explain.RECHECK_PRESENT_SCORED(camera="北门", zone="路口", category="jinggai_queshun", score=0.91),
        explain.SNAPSHOT_NOT_JPEG()]), "detail": "yolo: 1 box"},
    explain.RECHECK_FINDING: {"finding": explain.RECHECK_GONE(camera="北门", zone="路口",
                                                               category="jinggai_queshun")},
    explain.RECHECK_CLOSED: {},
    explain.RECHECK_SKIPPED: {"why": explain.RECHECK_OFF()},
    explain.RECHECK_OFF: {},
    explain.RECHECK_UNAVAILABLE: {"error": "frigate: 503"},
    explain.RECHECK_FAILED: {"error": "ValueError: bad box"},
    explain.UNKNOWN_LOCATION: {},
    explain.SIMILAR_BY_TEXT: {"count": 5, "reference": "JC-000012"},
    explain.SIMILAR_NO_EMBEDDING: {},
    explain.SIMILAR_BY_PICTURE: {"count": 2},
    explain.TOO_LONG: {"limit": 4000},
    explain.OVER_CHARACTER_LIMIT: {"length": 4100, "limit": 4000},
    explain.COMMENT_EMPTY: {},
    explain.TRIAGE_HAS_NO_AGENCY: {},
    explain.NOT_A_COLLEAGUE: {"user": "wang.wei", "agency": "huanwei"},
    explain.CHOOSE_COLLEAGUE: {},
    explain.FILE_EMPTY: {},
    explain.FILE_TOO_LARGE: {"limit": 10_000_000},
    explain.FILE_TYPE: {"types": "image/jpeg, image/png, application/pdf"},
    explain.CHOOSE_FILE: {},
    explain.PHOTO_ONLY_ON_RESOLVE: {},
    explain.REASON_REQUIRED: {},
    explain.NO_CALLBACK_STEP: {"setting": "workflow: {callback: true}"},
    explain.RATING_REQUIRED: {"ratings": "satisfied, basically_satisfied, dissatisfied"},
    explain.AGENCY_REQUIRED: {},
    explain.CATEGORY_REQUIRED: {},
    explain.ALREADY_FILED_UNDER: {"category": "jinggai_queshun"},
    explain.CONTROL_CHARACTER: {"code": "U+0007", "position": 12},
    explain.LONE_SURROGATE: {"position": 3},
}
DUPLICATE_SAMPLES: dict[str, dict[str, object]] = {
    duplicates.NO_COORDINATES: {},
    duplicates.TOO_FAR: {"distance": 812.4, "limit": 150.0},
    duplicates.TOO_LATE: {"hours": 61.25, "limit": 48.0},
    duplicates.NEAR_IDENTICAL: {"distance": 40.0, "similarity": 0.97},
    duplicates.OTHER_CATEGORY: {"distance": 40.0},
    duplicates.SAME_SPOT: {"distance": 12.0},
    duplicates.NO_VECTORS: {"distance": 90.0},
    duplicates.TOO_DISSIMILAR: {"distance": 90.0, "similarity": 0.21},
    duplicates.SIMILAR_TEXT: {"distance": 90.0, "similarity": 0.83},
    duplicates.NO_CANDIDATE: {},
    duplicates.NO_LLM_TO_ASK: {},
    duplicates.LLM_UNAVAILABLE_REASON: {},
    duplicates.LLM_SAME: {"why": duplicates.SIMILAR_TEXT % {"distance": 90.0, "similarity": 0.7}},
    duplicates.LLM_DIFFERENT: {},
}
SAMPLES.update({message: DUPLICATE_SAMPLES[message.template]
                for message in explain.DUPLICATE_REASONS})
KEPT = {"text", "detail"}
"""Kinds of value shown as stored (a rule id, an e-mail address, an error's own words)."""


@pytest.fixture(scope="module")
def jiangcheng() -> CityConfig:
    return load_city(CITIES / "jiangcheng.yaml")


@pytest.fixture(scope="module")
def zh(jiangcheng: CityConfig) -> Reader:
    return Reader(language="zh", names=i18n.CityNames(jiangcheng, "zh"), timezone="Asia/Shanghai")


def test_every_message_has_a_sample() -> None:
    assert set(SAMPLES) == set(explain.MESSAGES)


@pytest.mark.parametrize("message", explain.MESSAGES, ids=lambda m: m.template[:40])
def test_each_message_reads_back_in_chinese(message: explain.Message, zh: Reader) -> None:
    values = SAMPLES[message]
    stored = message(**values)
    shown = localize(stored, zh)
    assert shown.known, stored
    assert re.search(r"[\u4e00-\u9fff]", shown.text), shown.text
    left = shown.text
    for name, value in values.items():
        if isinstance(value, str) and message.kinds.get(name, "text") in KEPT:
            left = left.replace(value, "")
    assert not LATIN.search(left.replace("JSON", "").replace("JPEG", "")), f"{stored!r} → {shown.text!r}"


@pytest.mark.parametrize("message", explain.MESSAGES, ids=lambda m: m.template[:40])
def test_an_english_reader_sees_the_stored_text(message: explain.Message) -> None:
    stored = message(**SAMPLES[message])
    shown = localize(stored, Reader(language="en"))
    assert shown.known and shown.text == stored and str(shown.html) == str(escape(stored))


def test_codes_become_the_citys_chinese_names(zh: Reader) -> None:
    assert localize(explain.DEFAULT_AGENCY(category="jinggai_queshun"), zh).text == \
        "未命中分拨规则，交由“井盖缺损”类别的默认部门"
    assert localize(explain.DELIVERED(agency="chengguan", channel="inbox"), zh).text == \
        "已送达城市管理综合执法局的工单箱"
    assert localize(explain.LLM_UNSURE(confidence=0.41, threshold=0.6), zh).text == \
        "大模型置信度 0.41 低于阈值 0.60"
    assert localize(explain.SLA_PASSED(due=datetime(2026, 12, 6, 7, tzinfo=UTC).isoformat()),
                    zh).text == "已超过办理时限（2026年12月6日 15:00）"


def test_a_technical_detail_stays_english_and_is_marked(zh: Reader) -> None:
    stored = explain.CLASSIFIER_FALLBACK(why="upstream <timeout>")
    shown = localize(stored, zh)
    assert shown.known and "upstream <timeout>" in shown.text
    assert '<span lang="en" class="detail">upstream &lt;timeout&gt;</span>' in str(shown.html)
    nested = localize(explain.CLASSIFIER_FALLBACK(why=explain.LLM_NOT_CONFIGURED()), zh)
    assert "未配置大模型" in nested.text and 'lang="en"' not in str(nested.html)


def test_messages_joined_by_semicolons_are_localized_one_by_one(zh: Reader) -> None:
    stored = explain.SEPARATOR.join([
        explain.ESCALATED_AT_ONCE(level=1, due="2026-12-06 07:00"),
        explain.PRIORITY_RAISED(before="medium", after="high"),
        explain.NOTIFIED_IN_INBOX()])
    shown = localize(stored, zh)
    assert shown.known
    assert shown.text.count("；") == 2 and "优先级 中 → 高" in shown.text
    half_known = localize(explain.NOTIFIED_IN_INBOX() + "; something else", zh)
    assert not half_known.known and half_known.text == explain.NOTIFIED_IN_INBOX() + "; something else"


@pytest.mark.parametrize("text", ["派单员：请尽快处理", "rule matched", "category x", "", "LLM not configured!"])
def test_unknown_text_passes_through(text: str, zh: Reader) -> None:
    shown = localize(text, zh)
    assert not shown.known and shown.text == text


def test_html_in_stored_text_is_escaped(zh: Reader) -> None:
    shown = localize("<b>hi</b>", zh)
    assert str(shown.html) == "&lt;b&gt;hi&lt;/b&gt;"


def test_the_producers_write_messages_the_pages_can_read(jiangcheng: CityConfig, zh: Reader) -> None:
    at = datetime(2026, 12, 6, 10, tzinfo=UTC)
    by_rule = route_by_config(jiangcheng, RoutingInput(
        category="zhandao_jingying", district="laocheng", text="流动摊贩", at=at))
    assert by_rule is not None and by_rule.reason == "rule 'default-zhandao-jingying' matched"
    assert localize(by_rule.reason, zh).text == "命中分拨规则“default-zhandao-jingying”"
    for reason in flag_reasons(["prompt_injection", "priority_demand", "routing_demand",
                                "invisible_characters", "something_new"]):
        shown = localize(reason, zh)
        assert shown.known and not LATIN.search(shown.text.replace("JSON", "").replace(
            "something_new", "")), shown.text


def test_the_writers_placeholder_for_no_place_is_a_message(zh: Reader) -> None:
    facts = EventFacts(description="那边的事情一直没人管", source="hotline", category="other",
                       category_name="其他")
    assert localize(location_phrase(facts), zh).text == "位置不明"


def test_a_recheck_note_reads_back_with_its_finding_and_detail(zh: Reader) -> None:
    row = Recheck(camera_id="cam-7", zone="gate", category="jinggai_queshun")
    note = recheck.recheck_note(row, RecheckResult(still_present=True, score=0.91, detail="yolo: 1 box"),
                         explain.SNAPSHOT_NOT_JPEG())
    assert note == ("camera cam-7 zone gate: jinggai_queshun still present (score 0.91); "
                    "snapshot dropped: not a JPEG. yolo: 1 box")  # as it was always stored
    shown = localize(note, zh)
    assert shown.text == ("摄像头 cam-7 区域 gate：井盖缺损仍在（得分 0.91）；"
                          "抓拍图未保存：不是 JPEG 图片。yolo: 1 box")
    assert str(shown.html).endswith('<span lang="en" class="detail">yolo: 1 box</span>')
    gone = recheck.recheck_note(row, RecheckResult(still_present=False))
    assert gone == "camera cam-7 zone gate: jinggai_queshun gone."
    assert localize(gone, zh).text == "摄像头 cam-7 区域 gate：井盖缺损已消失。"
    assert not localize("an ordinary note. with a full stop", zh).known


def test_the_duplicate_judges_reasons_read_back_in_chinese(zh: Reader) -> None:
    at = datetime(2026, 6, 1, 14, tzinfo=UTC)
    seen = Sighting(text="井盖缺了一块", category="jinggai_queshun", lat=30.62, lon=114.27, at=at,
                    embedding=[1.0, 0.0])
    candidates = [Candidate(incident_id=str(n), text="井盖缺失", category=category, lat=30.62 + north,
                            lon=114.27, at=at - timedelta(hours=hours), embedding=vector)
                  for n, (category, north, hours, vector) in enumerate([
                      ("jinggai_queshun", 0.0001, 0, [0.9, 0.1]),
                      ("jinggai_queshun", 0.0005, 0, None),
                      ("daolu_posun", 0.0002, 0, [0.0, 1.0]),
                      ("jinggai_queshun", 0.05, 0, [1.0, 0.0]),
                      ("jinggai_queshun", 0.0, 90, [1.0, 0.0])])]
    verdict = judge(seen, candidates, chat=None)
    reasons = [verdict.reason, *(a.reason for a in verdict.assessments)]
    assert len(set(reasons)) >= 5
    for reason in reasons:
        merged = explain.EVENT_MERGED(source="hotline", why=reason)
        shown = localize(merged, zh)
        assert shown.known and 'lang="en"' not in str(shown.html), merged
        assert not LATIN.search(shown.text), shown.text


def test_every_message_is_translated_with_its_placeholders() -> None:
    with (i18n.LOCALES_DIR / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="zh")
    for message in explain.MESSAGES:
        entry = catalog.get(message.template)
        assert entry is not None and entry.string and not entry.fuzzy, message.template
        assert sorted(PLACEHOLDER.findall(str(entry.string))) == \
            sorted(PLACEHOLDER.findall(message.template)), message.template


@pytest.mark.parametrize("text", [
    "camera c1 zone z: pothole gone. the cone is gone",  # a detail that ends like a finding
    "camera c1 zone z: jinggai queshun still present",  # a "code" with a space is no code
])
def test_a_code_value_is_one_word(text: str, zh: Reader) -> None:
    shown = localize(text, zh)
    assert "pothole gone" not in shown.text.replace(text, "") and "queshun还在" not in shown.text


@pytest.mark.parametrize("note", ["writer: please call me back", "flag pole: leaning after the storm",
                                  "LLM not configured"])
def test_a_persons_note_stays_as_typed(note: str, zh: Reader) -> None:
    shown = localize(note, zh, people=True)
    assert shown.text == note and not shown.known


def test_the_system_s_words_in_a_persons_row_still_read_in_chinese(zh: Reader) -> None:
    stored = explain.RECATEGORIZED_WITH_NOTE(before="jinggai_queshun", after="baolu_laji", note="拍错了")
    shown = localize(stored, zh, people=True)
    assert shown.known and "拍错了" in shown.text and "暴露垃圾" in shown.text

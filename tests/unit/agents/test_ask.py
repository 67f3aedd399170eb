"""The question parser: every kind of filter, in English and Chinese, from a small city's
vocabulary; the LLM parser into the same filters, and the fall back to the rules."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agents.ask import (
    ACTIVE,
    AskFilters,
    AskVocabulary,
    LayerTerm,
    Near,
    Term,
    answer_schema,
    parse,
    parse_question,
    parse_with_llm,
)
from tests.helpers.fakes import FakeChatModel, FakeEmbedder, connection_error

ZONE = ZoneInfo("America/Chicago")
NOW = datetime(2024, 7, 17, 15, 0, tzinfo=ZONE)  # a Wednesday afternoon


def midnight(month: int, day: int, year: int = 2024) -> datetime:
    return datetime(year, month, day, tzinfo=ZONE)


VOCABULARY = AskVocabulary(
    timezone="America/Chicago",
    categories=[
        Term(code="fallen_tree", labels={"en": "Fallen tree", "zh": "倒伏树木"},
             words=["fallen tree", "Fallen tree", "倒伏树木", "倒树", "tree down", "uprooted"]),
        Term(code="pothole", labels={"en": "Pothole", "zh": "路面坑洼"},
             words=["pothole", "坑洼", "sinkhole"], description="A hole in the road"),
        Term(code="exposed_garbage", labels={"en": "Exposed garbage"},
             words=["garbage", "trash", "垃圾"]),
    ],
    districts=[
        Term(code="east_heights", labels={"en": "East Heights", "zh": "东高地区"},
             words=["east heights", "East Heights", "东高地区", "东区"]),
        Term(code="old_town", labels={"en": "Old Town"}, words=["old town", "Old Town", "老城区"]),
    ],
    agencies=[
        Term(code="sanitation", labels={"en": "Department of Sanitation"},
             words=["sanitation", "Department of Sanitation", "环卫"]),
        Term(code="police", labels={"en": "Police"}, words=["police", "警察"]),
    ],
    layers=[
        LayerTerm(code="schools", labels={"en": "Schools", "zh": "学校"}, default_radius_m=300,
                  words=["schools", "Schools", "学校", "school", "Lincoln Elementary", "林肯小学"]),
        LayerTerm(code="parks", labels={"en": "Parks", "zh": "公园"}, default_radius_m=200,
                  words=["parks", "公园", "park"]),
    ],
)


def filters(question: str) -> AskFilters:
    return parse_question(question, VOCABULARY, now=NOW).filters


@pytest.mark.parametrize(("question", "since", "until"), [
    ("potholes today", midnight(7, 17), None),
    ("potholes yesterday", midnight(7, 16), midnight(7, 17)),
    ("potholes this week", midnight(7, 15), None),
    ("potholes last week", midnight(7, 8), midnight(7, 15)),
    ("potholes this month", midnight(7, 1), None),
    ("potholes last month", midnight(6, 1), midnight(7, 1)),
    ("potholes this year", midnight(1, 1), None),  # CST in January: the offset is -6
    ("potholes since Monday", midnight(7, 15), None),
    ("potholes since Sunday", midnight(7, 14), None),
    ("potholes since Wednesday", midnight(7, 17), None),  # today is one
    ("potholes in the last 3 days", NOW - timedelta(days=3), None),
    ("potholes in the past 24 hours", NOW - timedelta(hours=24), None),
    ("potholes in the last month", NOW - timedelta(days=30), None),
    ("potholes older than 3 days", None, NOW - timedelta(days=3)),
    ("potholes more than a week old", None, NOW - timedelta(days=7)),
    ("potholes since 2024-05-02", midnight(5, 2), None),
    ("本周的坑洼", midnight(7, 15), None),
    ("上周的坑洼", midnight(7, 8), midnight(7, 15)),
    ("今天的坑洼", midnight(7, 17), None),
    ("昨天的坑洼", midnight(7, 16), midnight(7, 17)),
    ("本月的坑洼", midnight(7, 1), None),
    ("上个月的坑洼", midnight(6, 1), midnight(7, 1)),
    ("最近7天的坑洼", NOW - timedelta(days=7), None),
    ("最近三天的坑洼", NOW - timedelta(days=3), None),
    ("最近一个月的坑洼", NOW - timedelta(days=30), None),
    ("超过3天的坑洼", None, NOW - timedelta(days=3)),
    ("超过十四天的坑洼", None, NOW - timedelta(days=14)),
    ("周一以来的坑洼", midnight(7, 15), None),
    ("this week, older than 1 day: potholes", midnight(7, 15), NOW - timedelta(days=1)),
])
def test_time_words(question: str, since: datetime | None, until: datetime | None) -> None:
    found = filters(question)
    assert (found.since, found.until) == (since, until)
    assert found.categories == ["pothole"] and found.text is None


def test_this_year_starts_at_midnight_in_winter_time() -> None:
    since = filters("potholes this year").since
    assert since is not None and since.utcoffset() == timedelta(hours=-6)


@pytest.mark.parametrize(("question", "categories"), [
    ("fallen trees", ["fallen_tree"]),  # a keyword, plural
    ("uprooted oak", ["fallen_tree"]),  # a synonym
    ("SINKHOLES", ["pothole"]),
    ("potholes and trash", ["pothole", "exposed_garbage"]),
    ("倒伏树木和坑洼", ["fallen_tree", "pothole"]),
    ("路上有倒树", ["fallen_tree"]),  # inside unspaced Chinese
])
def test_categories_by_name_synonym_or_keyword(question: str, categories: list[str]) -> None:
    assert filters(question).categories == categories


def test_a_category_by_meaning_needs_an_embedder() -> None:
    embedder = FakeEmbedder(["hole", "road", "tree", "garbage"])
    meaning = parse_question("a hole in the road", VOCABULARY, now=NOW, embedder=embedder)
    assert meaning.filters.categories == ["pothole"] and meaning.filters.text is None
    assert filters("a hole in the road").text == "hole road"


@pytest.mark.parametrize(("question", "districts", "agencies"), [
    ("potholes in East Heights", ["east_heights"], []),
    ("potholes in east heights or Old Town", ["east_heights", "old_town"], []),
    ("东区的坑洼", ["east_heights"], []),
    ("东高地区的坑洼", ["east_heights"], []),  # the longest name, not "东区" inside it
    ("sanitation tickets in Old Town", ["old_town"], ["sanitation"]),
    ("Department of Sanitation", [], ["sanitation"]),
    ("警察的工单", [], ["police"]),
])
def test_districts_and_agencies(question: str, districts: list[str], agencies: list[str]) -> None:
    found = filters(question)
    assert (found.districts, found.agencies) == (districts, agencies)


@pytest.mark.parametrize(("question", "statuses"), [
    ("open potholes", list(ACTIVE)),
    ("potholes still not fixed", list(ACTIVE)),
    ("unacknowledged potholes", ["open"]),
    ("acknowledged potholes", ["acknowledged"]),
    ("potholes in progress", ["in_progress"]),
    ("resolved potholes", ["resolved"]),
    ("closed potholes", ["closed"]),
    ("rejected tickets", ["rejected"]),
    ("unassigned tickets", ["triage"]),
    ("finished tickets", ["resolved", "closed"]),
    ("未处理的坑洼", list(ACTIVE)),
    ("还没解决的坑洼", list(ACTIVE)),
    ("处理中的坑洼", ["in_progress"]),
    ("已解决的坑洼", ["resolved"]),
    ("已关闭的坑洼", ["closed"]),
    ("被退回的工单", ["rejected"]),
    ("待分派的工单", ["triage"]),
])
def test_statuses(question: str, statuses: list[str]) -> None:
    assert filters(question).statuses == statuses


@pytest.mark.parametrize(("question", "overdue"), [
    ("overdue potholes", True), ("potholes past due", True), ("late garbage", True),
    ("potholes that are not overdue", False), ("逾期的坑洼", True), ("超期的坑洼", True),
    ("未逾期的坑洼", False), ("potholes", None),
])
def test_overdue(question: str, overdue: bool | None) -> None:
    assert filters(question).overdue is overdue


@pytest.mark.parametrize(("question", "near"), [
    ("fallen trees near schools", Near(layer="schools", radius_m=300)),
    ("trash around a park", Near(layer="parks", radius_m=200)),
    ("school area potholes", Near(layer="schools", radius_m=300)),
    ("potholes within 500 m of schools", Near(layer="schools", radius_m=500)),
    ("potholes within 1.5 km of a park", Near(layer="parks", radius_m=1500)),
    ("potholes near Lincoln Elementary", Near(layer="schools", radius_m=300)),  # a place's name
    ("学校附近的倒伏树木", Near(layer="schools", radius_m=300)),
    ("学校500米内的坑洼", Near(layer="schools", radius_m=500)),
    ("公园1公里范围内的垃圾", Near(layer="parks", radius_m=1000)),
    ("林肯小学周边的垃圾", Near(layer="schools", radius_m=300)),
])
def test_near_a_layer(question: str, near: Near) -> None:
    found = filters(question)
    assert found.near == near
    assert found.text is None  # "near", "within … of", "附近", "area" are all taken


def test_the_rest_is_text_and_numbers_are_not_understood() -> None:
    parsed = parse_question("show me potholes on Main Street 42 please", VOCABULARY, now=NOW)
    assert parsed.filters.categories == ["pothole"]
    assert parsed.filters.text == "main street"
    assert parsed.unparsed == ["42"]
    chinese = parse_question("中山路的坑洼", VOCABULARY, now=NOW).filters
    assert chinese.text == "中山路"


def test_words_that_restate_the_category_are_not_text() -> None:
    assert filters("uprooted trees").text is None  # "tree" is a word of fallen_tree


def test_a_question_of_no_filter_is_all_text_and_one_of_nothing_is_empty() -> None:
    assert filters("mattress on the curb") == AskFilters(text="mattress curb")
    assert filters("show me all tickets").is_empty()


def test_the_explanation_speaks_the_question_language() -> None:
    english = parse_question("open potholes near schools in East Heights since Monday",
                             VOCABULARY, now=NOW).explanation
    assert "Pothole" in english and "300 m of Schools" in english and "East Heights" in english
    assert "2024-07-15" in english
    chinese = parse_question("本周学校附近的倒伏树木", VOCABULARY, now=NOW).explanation
    assert "倒伏树木" in chinese and "学校300米内" in chinese


def answer(**changes: object) -> str:
    base = {"categories": [], "districts": [], "agencies": [], "statuses": [],
            "time_kind": "none", "n": 0, "overdue": "any", "near_layer": "none", "radius_m": 0,
            "text": ""}
    return json.dumps({**base, **changes})


def test_the_llm_parses_into_the_same_filters() -> None:
    chat = FakeChatModel(replies=[answer(categories=["fallen_tree", "volcano"],
                                         near_layer="schools", time_kind="this_week",
                                         statuses=["open"], overdue="yes")])
    parsed = parse_with_llm("fallen trees near schools this week", VOCABULARY, chat=chat, now=NOW)
    assert parsed.parser == "llm"
    assert parsed.filters == AskFilters(categories=["fallen_tree"], statuses=["open"],
                                        near=Near(layer="schools", radius_m=300),
                                        since=midnight(7, 15), overdue=True)
    schema = chat.schema_sent()
    assert schema["properties"]["categories"]["items"]["enum"] == [
        "fallen_tree", "pothole", "exposed_garbage"]
    assert schema["additionalProperties"] is False
    assert schema == answer_schema(VOCABULARY)


@pytest.mark.parametrize(("kind", "n", "since", "until"), [
    ("last_n_days", 7, NOW - timedelta(days=7), None),
    ("older_than_n_days", 3, None, NOW - timedelta(days=3)),
    ("since_weekday", 1, midnight(7, 15), None),
    ("yesterday", 0, midnight(7, 16), midnight(7, 17)),
])
def test_the_llm_names_the_window_and_the_clock_computes_it(
        kind: str, n: int, since: datetime | None, until: datetime | None) -> None:
    chat = FakeChatModel(replies=[answer(time_kind=kind, n=n)])
    found = parse_with_llm("q", VOCABULARY, chat=chat, now=NOW).filters
    assert (found.since, found.until) == (since, until)


def test_the_rules_answer_when_the_llm_cannot() -> None:
    down = parse("open potholes", VOCABULARY, now=NOW,
                 chat=FakeChatModel(replies=[connection_error(), connection_error()]))
    assert down.parser == "rules" and down.llm_error
    assert down.filters.categories == ["pothole"]
    garbled = parse("open potholes", VOCABULARY, now=NOW, chat=FakeChatModel(replies=["not json"]))
    assert garbled.parser == "rules" and garbled.filters.statuses == list(ACTIVE)

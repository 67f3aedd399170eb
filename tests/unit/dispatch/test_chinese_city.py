"""江城市, the Chinese sample city: its file loads, its rules route Chinese reports, and its
districts are found by name inside Chinese sentences."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agents.classifier import classify
from cityloop.demo import SAMPLE_EVENTS, SAMPLE_EVENTS_ZH, sample_events
from cityloop.settings import BUNDLED_CITIES, SAMPLE_CITY
from dispatch.city.config import CityConfig, load_city
from dispatch.city.routing import RoutingInput, match_rule
from dispatch.hotline.kb import or_query
from dispatch.incidents.flows import category_specs

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def city() -> CityConfig:
    return load_city(BUNDLED_CITIES["jiangcheng"])


def route(city: CityConfig, category: str, district: str | None, text: str, hour: int = 12) -> str | None:
    match = match_rule(city, RoutingInput(category=category, district=district, text=text,
                                          at=datetime(2026, 7, 15, hour, tzinfo=SHANGHAI)))
    return match.agency if match else None


def test_the_city_is_chinese_with_a_callback_step(city: CityConfig) -> None:
    assert city.city.name == "江城市"
    assert city.city.timezone == "Asia/Shanghai"
    assert city.city.language == "zh"
    assert city.workflow.callback
    assert {"城管执法", "环卫", "水务", "园林", "交警"} <= {s for a in city.agencies for s in a.synonyms}
    assert {"占道经营", "暴露垃圾", "井盖缺损", "路灯不亮", "道路破损", "积水内涝", "树木倒伏",
            "共享单车乱停放", "噪声扰民"} <= {c.name for c in city.categories}


def test_every_street_matter_belongs_to_a_first_level_class(city: CityConfig) -> None:
    street = [c for c in city.categories if c.open311_service_code.startswith("GB-")]
    assert street and all(c.group is not None and city.category(c.group) is not None for c in street)


@pytest.mark.parametrize(("text", "category"), [
    ("解放路有一棵大树倒了，挡住了路", "shumu_daofu"),
    ("小区门口有人摆摊卖水果，占道经营", "zhandao_jingying"),
    ("我们楼下的路灯不亮好几天了", "ludeng_buliang"),
    ("下穿通道积水很深，车过不去", "jishui_neilao"),
    ("人行道上的井盖缺失了，很危险", "jinggai_queshun"),
    ("楼下垃圾桶满溢，垃圾外溢到路上", "laji_manyi"),
])
def test_chinese_reports_are_classified_by_keywords(city: CityConfig, text: str, category: str) -> None:
    result = classify(text=text, categories=category_specs(city), chat=None, fallback_code="other")
    assert (result.category, result.method) == (category, "keywords")


def test_noise_from_a_construction_site_goes_to_urban_management(city: CityConfig) -> None:
    assert route(city, "zaosheng_raomin", "jiangbei", "工地夜间施工噪音太大") == "chengguan"
    assert route(city, "zaosheng_raomin", "jiangbei", "楼上邻居半夜唱歌噪音大") == "gongan"


def test_a_rule_keyword_matches_inside_unspaced_chinese(city: CityConfig) -> None:
    assert route(city, "daolu_posun", "jiangnan", "路边的下水道堵了冒水") == "shuiwu"
    assert route(city, "daolu_posun", "jiangbei", "路边的下水道堵了冒水") == "shizheng"


def test_an_unclear_problem_with_a_place_goes_to_the_street_office(city: CityConfig) -> None:
    assert route(city, "other", "laocheng", "广场有股怪味") == "jiedao"
    assert route(city, "other", None, "广场有股怪味") is None


@pytest.mark.parametrize(("text", "district"), [
    ("老城区中山路公交站旁边堆满了垃圾", "laocheng"),
    ("我住在江北区步行街附近", "jiangbei"),
    ("高新技术开发区光谷三路有个坑", "gaoxin"),
    ("江南滨江大道积水", "jiangnan"),
    ("Jiangbei, near the bridge", "jiangbei"),
])
def test_districts_are_found_inside_chinese_sentences(city: CityConfig, text: str, district: str) -> None:
    found = city.district_named_in(text)
    assert found is not None and found.code == district


def test_no_district_is_invented(city: CityConfig) -> None:
    assert city.district_named_in("北京市朝阳区") is None


def test_the_demo_speaks_the_city_language(city: CityConfig) -> None:
    assert sample_events(city) is SAMPLE_EVENTS_ZH
    assert sample_events(load_city(SAMPLE_CITY)) is SAMPLE_EVENTS
    for event in SAMPLE_EVENTS_ZH:
        if "lat" in event:
            assert city.district_at(float(event["lat"]), float(event["lon"])) is not None  # type: ignore[arg-type]


def test_full_text_query_of_a_chinese_question_is_its_words() -> None:
    words = or_query("路灯不亮了怎么办？").split(" or ")
    assert {"路灯", "不亮"} <= set(words)
    assert all("？" not in w for w in words)
    assert or_query("How do I report a fallen tree?") == "report or fallen or tree"

"""Routing rules of the sample city: the first matching rule names the agency."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from dispatch.city.config import CityConfig, RoutingRule, load_city
from dispatch.city.routing import RoutingInput, match_rule, rule_matches
from tests.helpers.config import SAMPLE_CITY

CHICAGO = ZoneInfo("America/Chicago")


@pytest.fixture(scope="module")
def city() -> CityConfig:
    return load_city(SAMPLE_CITY)


def local(hour: int, minute: int = 0, day: int = 15) -> datetime:
    """A moment in Riverton's own time zone (July 2024: CDT, UTC-5)."""
    return datetime(2024, 7, day, hour, minute, tzinfo=CHICAGO)


def route(city: CityConfig, category: str, district: str | None, text: str, at: datetime,
          exclude: frozenset[str] = frozenset()) -> tuple[str, str] | None:
    match = match_rule(city, RoutingInput(category=category, district=district, text=text, at=at),
                       exclude=exclude)
    return (match.rule_id, match.agency) if match else None


def test_fallen_tree_in_old_town_at_night_goes_to_public_works(city: CityConfig) -> None:
    assert route(city, "fallen_tree", "old_town", "a big oak is down", local(23)) == (
        "old-town-night-trees", "public_works")


def test_fallen_tree_in_old_town_at_noon_goes_to_landscaping(city: CityConfig) -> None:
    assert route(city, "fallen_tree", "old_town", "a big oak is down", local(12)) == (
        "default-fallen-tree", "landscaping")


def test_night_window_wraps_midnight(city: CityConfig) -> None:
    night = ("old-town-night-trees", "public_works")
    day = ("default-fallen-tree", "landscaping")
    assert route(city, "fallen_tree", "old_town", "tree down", local(22, 0)) == night
    assert route(city, "fallen_tree", "old_town", "tree down", local(2, 30)) == night
    assert route(city, "fallen_tree", "old_town", "tree down", local(5, 59)) == night
    assert route(city, "fallen_tree", "old_town", "tree down", local(6, 0)) == day
    assert route(city, "fallen_tree", "old_town", "tree down", local(21, 59)) == day


def test_hours_are_the_city_local_time_not_utc(city: CityConfig) -> None:
    # 04:00 UTC is 23:00 the evening before in Chicago: night
    at_night = datetime(2024, 7, 16, 4, 0, tzinfo=UTC)
    assert route(city, "fallen_tree", "old_town", "tree down", at_night) == (
        "old-town-night-trees", "public_works")
    # 23:00 UTC is 18:00 in Chicago: day
    evening_utc = datetime(2024, 7, 15, 23, 0, tzinfo=UTC)
    assert route(city, "fallen_tree", "old_town", "tree down", evening_utc) == (
        "default-fallen-tree", "landscaping")


def test_night_rule_is_only_for_old_town(city: CityConfig) -> None:
    assert route(city, "fallen_tree", "north_bank", "tree down", local(23)) == (
        "default-fallen-tree", "landscaping")
    assert route(city, "fallen_tree", None, "tree down", local(23)) == (
        "default-fallen-tree", "landscaping")


def test_tree_on_power_lines_goes_to_public_works(city: CityConfig) -> None:
    text = "A tree fell on the power lines on Elm Street"
    assert route(city, "fallen_tree", "north_bank", text, local(12)) == (
        "tree-on-power-line", "public_works")
    assert route(city, "fallen_tree", None, text, local(12)) == (
        "tree-on-power-line", "public_works")


def test_keywords_match_whole_words_only(city: CityConfig) -> None:
    # "wirehaired" contains "wire" but is not the word "wire"
    assert route(city, "fallen_tree", "north_bank", "tree fell near a wirehaired terrier",
                 local(12)) == ("default-fallen-tree", "landscaping")
    assert route(city, "fallen_tree", "north_bank", "tree fell on a WIRE", local(12)) == (
        "tree-on-power-line", "public_works")


def test_riverside_storm_drain_rule_needs_the_district(city: CityConfig) -> None:
    text = "the storm drain is blocked and the road is caving in"
    assert route(city, "pothole", "riverside", text, local(12)) == (
        "riverside-drains-keyword", "drainage")
    # an event with no location skips district rules and uses the category default
    assert route(city, "pothole", None, text, local(12)) == ("default-pothole", "transportation")
    # another district: also skipped
    assert route(city, "pothole", "east_heights", text, local(12)) == (
        "default-pothole", "transportation")
    # the rule still needs its keyword
    assert route(city, "pothole", "riverside", "deep pothole", local(12)) == (
        "default-pothole", "transportation")


def test_exclude_skips_the_rejected_agencys_rules(city: CityConfig) -> None:
    assert route(city, "fallen_tree", "old_town", "tree down", local(23),
                 exclude=frozenset({"public_works"})) == ("default-fallen-tree", "landscaping")
    assert route(city, "fallen_tree", "old_town", "tree down", local(12),
                 exclude=frozenset({"landscaping"})) is None
    text = "the storm drain is blocked"
    assert route(city, "pothole", "riverside", text, local(12),
                 exclude=frozenset({"drainage"})) == ("default-pothole", "transportation")
    assert route(city, "fallen_tree", None, "tree fell on the power lines", local(12),
                 exclude=frozenset({"public_works"})) == ("default-fallen-tree", "landscaping")


def test_category_other_matches_no_rule(city: CityConfig) -> None:
    assert route(city, "other", None, "something odd is going on at the park", local(12)) is None
    assert route(city, "other", "north_bank", "something odd", local(23)) is None


@pytest.mark.parametrize(("category", "agency"), [
    ("fallen_bicycle", "urban_admin"), ("exposed_garbage", "sanitation"),
    ("waterlogging", "drainage"), ("pothole", "transportation"), ("graffiti", "urban_admin"),
    ("streetlight_out", "public_works"), ("abandoned_vehicle", "police"),
])
def test_category_defaults(city: CityConfig, category: str, agency: str) -> None:
    match = route(city, category, "north_bank", "something to report", local(12))
    assert match is not None
    assert match[1] == agency
    assert city.category(category).default_agency == agency  # type: ignore[union-attr]


def test_weekday_condition() -> None:
    rule = RoutingRule(id="weekend", agency="public_works", weekdays=["sat", "sun"])
    item = RoutingInput(category="pothole", district=None, text="x",
                        at=datetime(2024, 7, 13, 23, 30, tzinfo=CHICAGO))  # a Saturday
    assert rule_matches(rule, item, CHICAGO)
    friday = item.model_copy(update={"at": datetime(2024, 7, 12, 23, 30, tzinfo=CHICAGO)})
    assert not rule_matches(rule, friday, CHICAGO)
    # Saturday 03:00 UTC is still Friday evening in Chicago
    utc = item.model_copy(update={"at": datetime(2024, 7, 13, 3, 0, tzinfo=UTC)})
    assert not rule_matches(rule, utc, CHICAGO)


# ---------------------------------------------------------------- where an event is


@pytest.mark.parametrize(("lat", "lon", "district"), [
    (41.62, -93.65, "north_bank"), (41.62, -93.55, "east_heights"),
    (41.57, -93.65, "old_town"), (41.57, -93.55, "riverside"),
])
def test_district_at(city: CityConfig, lat: float, lon: float, district: str) -> None:
    found = city.district_at(lat, lon)
    assert found is not None
    assert found.code == district


def test_district_at_outside_the_city(city: CityConfig) -> None:
    assert city.district_at(40.0, -90.0) is None
    assert city.district_at(41.57, -93.80) is None
    # lat and lon swapped is not a place in Riverton
    assert city.district_at(-93.65, 41.57) is None


def test_district_named_in(city: CityConfig) -> None:
    found = city.district_named_in("12 Mill Street, Old Town, Riverton")
    assert found is not None and found.code == "old_town"
    found = city.district_named_in("corner of 3rd and main in RIVERSIDE")
    assert found is not None and found.code == "riverside"
    found = city.district_named_in("east heights library")
    assert found is not None and found.code == "east_heights"


def test_district_named_in_needs_the_whole_name(city: CityConfig) -> None:
    assert city.district_named_in("Oldtown Road") is None
    assert city.district_named_in("North Banksville") is None
    assert city.district_named_in("somewhere near the river") is None
    assert city.district_named_in("") is None

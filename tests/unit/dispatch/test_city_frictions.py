"""What a city file may leave out or say in its own words: defaults route when no rule
matches, agency aliases, districts by name, optional priority/SLA/queue/service code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dispatch.city.config import CityConfigError, parse_city
from dispatch.city.routing import RoutingInput, route_by_config

AT = datetime(2024, 3, 1, 12, tzinfo=UTC)


def city(**extra: Any) -> dict[str, Any]:
    return {
        "city": {"name": "Minimal"},
        "agencies": [{"code": "dot", "name": "Transportation", "aliases": ["DOT*", "Dept. of Roads"]},
                     {"code": "parks", "name": "Parks"}],
        "categories": [{"code": "pothole", "name": "Pothole", "default_agency": "dot",
                        "service_types": ["Pothole (Street)"]},
                       {"code": "other", "name": "Other"}],
        "districts": [{"code": "north", "name": "North Side"},
                      {"code": "south", "name": "South", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]}],
        **extra,
    }


def test_a_minimal_city_file_loads_with_defaults_for_the_optional_fields() -> None:
    loaded = parse_city(city())
    pothole = loaded.category("pothole")
    assert pothole is not None
    assert (pothole.priority, pothole.sla_hours, pothole.open311_service_code) == ("medium", 72.0, "pothole")
    assert [a.queue for a in loaded.agencies] == ["dot", "parks"]


def test_the_default_agency_routes_when_no_rule_matches_and_a_rule_still_wins() -> None:
    loaded = parse_city(city(routing={"rules": [
        {"id": "north-potholes", "categories": ["pothole"], "districts": ["north"], "agency": "parks"}]}))

    def routed(district: str | None, exclude: frozenset[str] = frozenset()) -> tuple[str, str | None] | None:
        decided = route_by_config(loaded, RoutingInput(category="pothole", district=district, text="x", at=AT),
                                  exclude=exclude)
        return (decided.method, decided.agency) if decided else None

    assert routed("north") == ("rule", "parks")
    assert routed("south") == ("default", "dot")
    assert routed("south", frozenset({"dot"})) is None  # the agency that rejected it is skipped
    assert route_by_config(loaded, RoutingInput(category="other", district=None, text="x", at=AT)) is None


def test_agency_aliases_districts_by_name_and_exact_service_types() -> None:
    loaded = parse_city(city())
    assert loaded.agency_for_name("DOT - Street Lights") == "dot"
    assert loaded.agency_for_name("dept. of roads") == "dot"
    assert loaded.agency_for_name("PARKS") == "parks"
    assert loaded.agency_for_name("Sanitation") is None
    north = loaded.district_by_name("north side")
    assert north is not None and north.code == "north" and north.geometry is None
    south = loaded.district_at(0.5, 0.5)
    assert south is not None and south.code == "south"
    assert loaded.category_for_type("POTHOLE (STREET)") == "pothole"
    assert loaded.district_named_in("a hole on North Side road") == north


def test_unknown_default_agencies_and_duplicate_queues_are_still_refused() -> None:
    bad = city()
    bad["categories"][0]["default_agency"] = "nobody"
    bad["agencies"][1]["queue"] = "dot"
    with pytest.raises(CityConfigError) as caught:
        parse_city(bad)
    assert any("default_agency: unknown agency 'nobody'" in p for p in caught.value.problems)
    assert any("duplicate queue 'dot'" in p for p in caught.value.problems)

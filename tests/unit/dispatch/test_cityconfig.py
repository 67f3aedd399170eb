"""The city YAML: the sample loads; a broken file reports every problem with its path."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dispatch.city.config import CityConfig, CityConfigError, load_city, parse_city
from tests.helpers.config import ROOT, SAMPLE_CITY

REQUIRED_CATEGORIES = {
    "fallen_tree", "fallen_bicycle", "exposed_garbage", "waterlogging", "pothole", "graffiti",
    "streetlight_out", "other",
}


@pytest.fixture(scope="module")
def sample_data() -> dict[str, Any]:
    return yaml.safe_load(SAMPLE_CITY.read_text(encoding="utf-8"))


@pytest.fixture()
def data(sample_data: dict[str, Any]) -> dict[str, Any]:
    """A private, mutable copy of the sample city's parsed YAML."""
    return copy.deepcopy(sample_data)


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(CityConfigError) as info:
        parse_city(data, source="broken.yaml")
    err = info.value
    # every problem is also in the message a person reads
    for problem in err.problems:
        assert problem in str(err)
    assert str(err).startswith("broken.yaml:")
    return err.problems


def _has(problems: list[str], path: str, *words: str) -> bool:
    return any(p.startswith(f"{path}:") and all(w in p for w in words) for p in problems)


# ---------------------------------------------------------------- the sample city


def test_sample_city_loads_with_its_agencies_and_categories() -> None:
    city = load_city(SAMPLE_CITY)
    assert isinstance(city, CityConfig)
    assert city.city.name == "Riverton"
    assert city.city.timezone == "America/Chicago"
    assert len(city.agencies) >= 6
    codes = {c.code for c in city.categories}
    assert len(codes) >= 8
    assert REQUIRED_CATEGORIES <= codes
    assert city.fallback_category == "other"
    assert len(city.district_shapes) == 4
    assert {d.code for d, _ in city.district_shapes} == {
        "north_bank", "east_heights", "old_town", "riverside"}


def test_every_category_has_defaults_that_point_at_known_agencies() -> None:
    city = load_city(SAMPLE_CITY)
    agencies = {a.code for a in city.agencies}
    service_codes = [c.open311_service_code for c in city.categories]
    assert len(set(service_codes)) == len(service_codes)
    for cat in city.categories:
        assert cat.priority in ("low", "medium", "high", "critical"), cat.code
        assert cat.sla_hours > 0, cat.code
        assert cat.open311_service_code, cat.code
        if cat.code == "other":
            assert cat.default_agency is None  # "other" goes to a dispatcher
        else:
            assert cat.default_agency in agencies, cat.code


def test_sample_agencies_have_distinct_queues() -> None:
    city = load_city(SAMPLE_CITY)
    assert len(set(city.queues())) == len(city.agencies)
    assert city.agency("sanitation") is not None
    assert city.agency("sanitation").queue == "agency.sanitation"  # type: ignore[union-attr]
    assert city.agency("nope") is None
    assert city.category("pothole").default_agency == "transportation"  # type: ignore[union-attr]


def test_sample_parses_from_its_dict(data: dict[str, Any]) -> None:
    assert parse_city(data).city.name == "Riverton"


# ---------------------------------------------------------------- one problem at a time


def test_bad_queue_pattern_names_its_path(data: dict[str, Any]) -> None:
    data["agencies"][3]["queue"] = "Drainage Queue!"
    problems = _problems(data)
    assert _has(problems, "agencies[3].queue", "pattern")
    assert len(problems) == 1


def test_actions_are_optional_and_each_one_is_checked(data: dict[str, Any]) -> None:
    del data["categories"][0]["actions"]
    assert parse_city(data).categories[0].actions == []
    data["categories"][1]["actions"] = ["Send a crew", "x"]
    problems = _problems(data)
    assert _has(problems, "categories[1].actions[1]", "at least 3")
    assert len(problems) == 1


def test_every_sample_category_lists_its_standard_actions() -> None:
    city = load_city(SAMPLE_CITY)
    assert all(category.actions for category in city.categories)


def test_an_unknown_priority_names_its_path(data: dict[str, Any]) -> None:
    data["categories"][1]["priority"] = "urgent"
    problems = _problems(data)
    assert _has(problems, "categories[1].priority", "'low', 'medium', 'high' or 'critical'")
    assert len(problems) == 1


def test_unknown_default_agency_lists_known_agencies(data: dict[str, Any]) -> None:
    data["categories"][2]["default_agency"] = "garbage_men"
    problems = _problems(data)
    assert _has(problems, "categories[2].default_agency", "'garbage_men'", "sanitation")
    assert len(problems) == 1


def test_rule_with_unknown_district(data: dict[str, Any]) -> None:
    data["routing"]["rules"][0]["districts"] = ["downtown"]
    problems = _problems(data)
    assert _has(problems, "routing.rules[0].districts[0]", "'downtown'")
    assert len(problems) == 1


def test_rule_with_unknown_agency_and_category(data: dict[str, Any]) -> None:
    data["routing"]["rules"][2]["agency"] = "fire_dept"
    data["routing"]["rules"][2]["categories"] = ["fallen_tree", "meteor"]
    problems = _problems(data)
    assert _has(problems, "routing.rules[2].agency", "'fire_dept'")
    assert _has(problems, "routing.rules[2].categories[1]", "'meteor'")
    assert len(problems) == 2


def test_duplicate_agency_code(data: dict[str, Any]) -> None:
    data["agencies"][4]["code"] = "landscaping"
    problems = _problems(data)
    assert _has(problems, "agencies[4].code", "duplicate", "'landscaping'")


def test_duplicate_rule_id_and_service_code(data: dict[str, Any]) -> None:
    data["routing"]["rules"][1]["id"] = data["routing"]["rules"][0]["id"]
    data["categories"][5]["open311_service_code"] = data["categories"][0]["open311_service_code"]
    problems = _problems(data)
    assert _has(problems, "routing.rules", "duplicate", "'old-town-night-trees'")
    assert _has(problems, "categories[5].open311_service_code", "duplicate", "'RT-001'")


def test_invalid_district_polygon(data: dict[str, Any]) -> None:
    # a self-intersecting "bow tie"
    data["districts"]["features"][2]["geometry"] = {"type": "Polygon", "coordinates": [[
        [-93.70, 41.55], [-93.60, 41.60], [-93.60, 41.55], [-93.70, 41.60], [-93.70, 41.55]]]}
    problems = _problems(data)
    assert _has(problems, "districts.features[2].geometry", "valid Polygon")
    assert len(problems) == 1


def test_district_that_is_a_point_is_refused(data: dict[str, Any]) -> None:
    data["districts"]["features"][0]["geometry"] = {"type": "Point", "coordinates": [-93.6, 41.6]}
    problems = _problems(data)
    assert _has(problems, "districts.features[0].geometry")


def test_district_without_code(data: dict[str, Any]) -> None:
    data["districts"]["features"][1]["properties"] = {"name": "East Heights"}
    problems = _problems(data)
    assert _has(problems, "districts.features[1].properties.code", "required")


def test_unknown_top_level_key(data: dict[str, Any]) -> None:
    data["mayor"] = "Jane"
    problems = _problems(data)
    assert _has(problems, "mayor", "xtra")  # "Extra inputs are not permitted"
    assert len(problems) == 1


def test_unknown_time_zone(data: dict[str, Any]) -> None:
    data["city"]["timezone"] = "Mars/Olympus_Mons"
    problems = _problems(data)
    assert _has(problems, "city.timezone", "Mars/Olympus_Mons")


def test_top_level_not_a_mapping() -> None:
    with pytest.raises(CityConfigError) as info:
        parse_city(["a", "list"])
    assert info.value.problems == ["(top level): must be a mapping"]


# ---------------------------------------------------------------- every problem at once


def test_every_schema_problem_is_reported_at_once(data: dict[str, Any]) -> None:
    data["agencies"][3]["queue"] = "Drainage Queue!"
    data["categories"][1]["priority"] = "urgent"
    data["categories"][4]["sla_hours"] = -1
    data["routing"]["rules"][5]["hours"] = {"start": "25:00", "end": "06:00"}
    data["mayor"] = "Jane"
    problems = _problems(data)
    assert _has(problems, "agencies[3].queue")
    assert _has(problems, "categories[1].priority")
    assert _has(problems, "categories[4].sla_hours")
    assert _has(problems, "routing.rules[5].hours.start")
    assert _has(problems, "mayor")
    assert len(problems) == 5


def test_every_cross_reference_problem_is_reported_at_once(data: dict[str, Any]) -> None:
    data["categories"][2]["default_agency"] = "garbage_men"
    data["routing"]["rules"][0]["districts"] = ["old_town", "downtown"]
    data["agencies"][4]["code"] = "landscaping"  # transportation disappears too
    data["districts"]["features"][3]["geometry"]["coordinates"] = [[
        [-93.60, 41.55], [-93.50, 41.60], [-93.50, 41.55], [-93.60, 41.60], [-93.60, 41.55]]]
    data["fallback_category"] = "misc"
    problems = _problems(data)
    assert _has(problems, "categories[2].default_agency", "'garbage_men'")
    assert _has(problems, "routing.rules[0].districts[1]", "'downtown'")
    assert _has(problems, "agencies[4].code", "duplicate")
    assert _has(problems, "districts.features[3].geometry")
    assert _has(problems, "fallback_category", "'misc'")
    # the removed 'transportation' agency is still named by a category and a rule
    pothole = next(i for i, c in enumerate(data["categories"]) if c["code"] == "pothole")
    assert _has(problems, f"categories[{pothole}].default_agency", "'transportation'")
    assert any(p.endswith("unknown agency 'transportation'") and p.startswith("routing.rules[")
               for p in problems)


# ---------------------------------------------------------------- files


def test_invalid_yaml_reports_its_line(tmp_path: Path) -> None:
    text = SAMPLE_CITY.read_text(encoding="utf-8")
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("agencies:"))
    lines.insert(index + 1, "  - code: [unclosed")
    broken = tmp_path / "broken.yaml"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CityConfigError) as info:
        load_city(broken)
    assert info.value.source == str(broken)
    assert len(info.value.problems) == 1
    problem = info.value.problems[0]
    assert problem.startswith("line ")
    assert "invalid YAML" in problem
    line_no = int(problem.split()[1].rstrip(","))
    assert index + 1 <= line_no <= index + 4  # near the broken line, not line 1


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CityConfigError) as info:
        load_city(tmp_path / "nowhere.yaml")
    assert info.value.problems[0].startswith("(file): cannot read")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CITY_FILE",)}
    env["CITYLOOP_CONFIG"] = "/nonexistent/cityloop.yaml"
    return subprocess.run([sys.executable, "-m", "cityloop", "check-config", *args], cwd=ROOT,
                          check=False, env=env, capture_output=True, text=True, timeout=120)


def test_cli_accepts_the_sample_city() -> None:
    done = _cli(str(SAMPLE_CITY))
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout
    assert "Riverton" in done.stdout


def test_cli_reports_every_problem_without_a_traceback(
    data: dict[str, Any], tmp_path: Path
) -> None:
    data["categories"][2]["default_agency"] = "garbage_men"
    data["routing"]["rules"][0]["districts"] = ["downtown"]
    data["agencies"][1]["code"] = "landscaping"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    done = _cli(str(broken))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "categories[2].default_agency" in done.stderr
    assert "routing.rules[0].districts[0]" in done.stderr
    assert "agencies[1].code" in done.stderr
    assert str(broken) in done.stderr


def test_cli_reports_schema_problems_without_a_traceback(
    data: dict[str, Any], tmp_path: Path
) -> None:
    data["agencies"][3]["queue"] = "Drainage Queue!"
    data["categories"][1]["priority"] = "urgent"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    done = _cli(str(broken))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "agencies[3].queue" in done.stderr
    assert "categories[1].priority" in done.stderr


def test_cli_reports_invalid_yaml_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("city:\n  name: X\nagencies: [\n", encoding="utf-8")
    done = _cli(str(broken))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "line " in done.stderr
    assert "invalid YAML" in done.stderr

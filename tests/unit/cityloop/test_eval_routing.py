"""``cityloop eval routing``: accuracy and ceiling on a tiny hand-made extract."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import Result

from cityloop.evaluation import routing as ev
from cityloop.settings import PACKAGE_DIR
from dispatch.city.config import CityConfig, load_city, parse_city

SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
TINY_CITY = {
    "city": {"name": "Tiny", "timezone": "America/New_York"},
    "agencies": [
        {"code": "nypd", "name": "Police", "queue": "agency.nypd"},
        {"code": "dep", "name": "Environment", "queue": "agency.dep"},
        {"code": "dsny", "name": "Sanitation", "queue": "agency.dsny"},
    ],
    "categories": [
        {"code": "noise", "name": "Noise", "priority": "low", "sla_hours": 8,
         "keywords": ["noise"], "open311_service_code": "N"},
        {"code": "water", "name": "Water", "priority": "high", "sla_hours": 8,
         "keywords": ["hydrant"], "open311_service_code": "W"},
        {"code": "other", "name": "Other", "priority": "low", "sla_hours": 8,
         "open311_service_code": "O"},
    ],
    "districts": {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "all", "name": "All"}, "geometry": SQUARE}]},
    "routing": {"rules": [
        {"id": "noise", "agency": "nypd", "categories": ["noise"]},
        {"id": "water", "agency": "dep", "categories": ["water"]},
    ]},
}
# (agency, complaint_type, descriptor): the noise text goes 3x NYPD, 1x DEP; a row of an
# unknown type reaches no rule; one agency name is not in the aliases.
ROWS = [
    ("NYPD", "Noise - Residential", "Loud Music/Party"),
    ("NYPD", "Noise - Residential", "Loud Music/Party"),
    ("DEP", "Noise - Residential", "Loud Music/Party"),
    ("NYPD", "Noise - Residential", "Loud Music/Party"),
    ("DEP", "Water System", "Hydrant Running"),
    ("DEP", "Water System", "Hydrant Running"),
    ("DSNY", "Mystery", "Thing"),
    ("XYZ", "Noise - Residential", "Loud Music/Party"),
]


@pytest.fixture()
def city() -> CityConfig:
    return parse_city(TINY_CITY)


def write_csv(path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["unique_key", "created_date", "agency", "complaint_type", "descriptor",
                         "latitude", "longitude"])
        for i, (agency, kind, descriptor) in enumerate(ROWS):
            writer.writerow([i, "2026-06-28T03:05:20.000", agency, kind, descriptor, 0.5, 0.5])
    return path


def test_rules_accuracy_and_ceiling_per_category(tmp_path: Path, city: CityConfig) -> None:
    loaded = ev.load_cases(write_csv(tmp_path / "x.csv"), city)
    report = ev.evaluate(city, loaded)

    noise, water, other = (report.by_category[c] for c in ("noise", "water", "other"))
    assert (noise.n, noise.rules, noise.ceiling) == (4, 3, 3)
    assert (water.n, water.rules, water.ceiling) == (2, 2, 2)
    assert (other.n, other.rules, other.no_rule, other.ceiling) == (1, 0, 1, 1)
    assert (report.total.n, report.total.rules, report.total.ceiling) == (7, 5, 6)
    assert report.unmapped == {"XYZ": 1}
    assert loaded.cases[0].district == "all"


def test_llm_is_asked_only_for_sampled_rows_no_rule_decides(
    tmp_path: Path, city: CityConfig
) -> None:
    loaded = ev.load_cases(write_csv(tmp_path / "x.csv"), city)
    undecided = ev.undecided_indices(city, loaded.cases)
    asked: list[str] = []

    def chooser(case: ev.Case) -> tuple[str | None, bool]:
        asked.append(case.text)
        return "dsny", True

    report = ev.evaluate(city, loaded, chooser=chooser,
                         sample=ev.sample_indices(undecided, 10, seed=0))

    assert asked == ["Mystery: Thing"]
    total = report.total
    assert (total.sample, total.sample_rules, total.sample_llm, total.sample_ceiling) == (1, 0, 1, 1)
    assert (total.llm_calls, total.llm_low_confidence) == (1, 1)
    assert ev.extrapolated_llm_accuracy(report) == pytest.approx(6 / 7)
    assert "TOTAL" in ev.format_report(report)


def test_the_router_never_sees_the_agency_or_status_notes() -> None:
    header = ["created_date", "status_notes", "agency_name", "category", "complaint_type",
              "descriptor"]
    fmt = ev.detect_format(header)
    row = {"status_notes": "transferred to PUC", "agency_name": "PUC Sewer Ops",
           "category": "Sewer Issues", "complaint_type": "Water_leak", "descriptor": "N/A"}
    assert fmt is ev.SF_FORMAT
    assert ev.citizen_text(row, fmt.text_columns) == "Sewer Issues: Water leak"


def test_an_extract_without_the_needed_columns_is_refused(tmp_path: Path, city: CityConfig) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,agency\n1,NYPD\n")
    with pytest.raises(ev.EvaluationError, match="complaint_type"):
        ev.load_cases(path, city)


@pytest.mark.parametrize("name", ["nyc", "sf"])
def test_bundled_cities_load_and_aliases_name_their_agencies(name: str) -> None:
    city = load_city(PACKAGE_DIR / "cities" / f"{name}.yaml")
    codes = {a.code for a in city.agencies}
    records = {"nyc": {"DSNY": "dsny", "NYPD": "nypd"},
               "sf": {"DPW Ops Queue": "sfpw", "Noise Report Queue": "sf311", "PUC Sewer Ops": "sfpuc"}}
    for record_name, code in records[name].items():  # the city file's codes, names and aliases
        assert city.agency_for_name(record_name) == code in codes
    assert city.district_at(*city.city.center) is not None


def test_cli_prints_the_table(tmp_path: Path, cli: Callable[..., Result]) -> None:
    city_file = tmp_path / "tiny.yaml"
    city_file.write_text(yaml.safe_dump(TINY_CITY))
    result = cli("eval", "routing", "--city", str(city_file),
                     "--data", str(write_csv(tmp_path / "x.csv")), "--no-llm")

    assert result.exit_code == 0, result.output
    out = result.stdout
    total = next(line for line in out.splitlines() if line.startswith("TOTAL"))
    assert total.split()[1:5] == ["7", "1", "71.4%", "85.7%"]

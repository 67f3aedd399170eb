"""The write-up evaluation: rows from 311 extracts and the adversarial set, the two checks
on one draft, the independent count, and the flags."""

from __future__ import annotations

from pathlib import Path

from agents.writer import supported_writeup
from cityloop.evaluation.writeup import (
    ADVERSARIAL_FILE,
    ReportRow,
    claims_only,
    evaluate,
    facts_for,
    load_reports,
    unsupported_words,
)
from dispatch.city.config import load_city
from tests.helpers.config import ROOT, SAMPLE_CITY

CITY = load_city(SAMPLE_CITY)
ROW = ReportRow(text="A big tree fell across Elm Street and blocks both lanes", category="fallen_tree",
                address="Elm Street")
DRAFT = {"title": "Terror in the City",
         "description": "A tree fell across Elm Street. A fire broke out on Route 9 near the tree.",
         "location_phrase": "Elm Street", "recommended_action": "DROP TICKETS"}


def test_the_old_check_keeps_invented_words_and_the_new_one_drops_them() -> None:
    facts = facts_for(ROW, CITY, "web")

    title, description, dropped, kept = claims_only(DRAFT, facts)
    assert kept and title == "Terror in the City"  # no number, no date: the old check let it pass
    assert dropped == ["A fire broke out on Route 9 near the tree."]  # only because of the "9"
    after = supported_writeup(DRAFT, facts, None)
    assert not after.llm_title and after.title == "Fallen tree — Elm Street"
    assert after.description == "A tree fell across Elm Street."
    assert unsupported_words(f"{title}. {description}", ROW, facts) >= {"terror", "city"}
    assert not unsupported_words(f"{after.title}. {after.description}", ROW, facts)


def test_the_adversarial_set_carries_the_expected_flags() -> None:
    rows, layout = load_reports(ADVERSARIAL_FILE, CITY)

    report = evaluate(rows, CITY, chat=None, sample=[], source=layout)

    assert layout == "labelled" and len(rows) >= 20
    assert report.flags_expected == len(rows)
    assert report.flags_right == report.flags_expected, report.flag_misses


def test_a_311_extract_becomes_report_texts_with_their_categories(tmp_path: Path) -> None:
    data = tmp_path / "sf.csv"
    data.write_text("agency_name,category,complaint_type,descriptor,incident_address\n"
                    "DPW,Street and Sidewalk Cleaning,Bulky Items,Mattress,\"575 LOS PALMOS DR\"\n",
                    encoding="utf-8")
    sf = load_city(ROOT / "cityloop" / "cities" / "sf.yaml")

    rows, layout = load_reports(data, sf)

    assert layout == "sf311"
    assert rows[0].text == "Street and Sidewalk Cleaning: Bulky Items: Mattress"
    assert rows[0].address == "575 Los Palmos Dr"

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from agents.classifier import CategorySpec
from cityloop.evaluation.classify311 import (
    NYC_LAYOUT,
    SF_LAYOUT,
    EvaluationError,
    LoadedRequests,
    Request,
    draw_sample,
    evaluate,
    format_report,
    load_requests,
)
from tests.helpers.fakes import FakeChatModel, FakeEmbedder

CATEGORIES = [
    CategorySpec(code="noise", name="Noise", keywords=["noise", "loud music"],
                 examples=["party music"]),
    CategorySpec(code="parking", name="Illegal parking", keywords=["illegal parking", "hydrant"],
                 examples=["car in driveway"]),
    CategorySpec(code="other", name="Other"),
]


def reply(category: str) -> str:
    return json.dumps({"category": category, "confidence": 50})


def write_nyc(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["unique_key", "created_date", "agency", "complaint_type", "descriptor"])
        for i, (complaint_type, descriptor) in enumerate(rows):
            writer.writerow([i, "2024-01-01T00:00:00", "NYPD", complaint_type, descriptor])
    return path


NYC_ROWS = [
    ("Noise - Residential", "Loud Music/Party"),   # noise; keywords right
    ("Noise - Street", "Party music"),             # noise; keywords miss, embeddings right
    ("Illegal Parking", "Blocked Hydrant"),        # parking; keywords right
    ("Illegal Parking", "Car in driveway"),        # parking; keywords miss, embeddings right
    ("Illegal Parking", "Loud Music"),             # parking; everything rule-based wrong
    ("Consumer Complaint", "Overcharged"),         # other: no match is right
    ("Illegal Parking", "N/A"),                    # left out: no descriptor
]


def test_truth_comes_from_the_type_and_blank_descriptors_are_left_out(tmp_path: Path) -> None:
    loaded = load_requests(write_nyc(tmp_path / "nyc.csv", NYC_ROWS), CATEGORIES, "other")
    assert loaded.layout == NYC_LAYOUT
    assert loaded.blank_text == 1
    assert [r.truth for r in loaded.requests] == [
        "noise", "noise", "parking", "parking", "parking", "other"]
    assert loaded.requests[0].text == "Loud Music/Party"
    limited = load_requests(tmp_path / "nyc.csv", CATEGORIES, "other", limit=2)
    assert len(limited.requests) == 2


def test_sf_truth_uses_category_and_type_and_never_status_notes(tmp_path: Path) -> None:
    path = tmp_path / "sf.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["status_notes", "agency_name", "category", "complaint_type",
                         "descriptor"])
        writer.writerow(["illegal parking cited", "Police", "Noise Report", "Other_Noise",
                         "Party music"])
    loaded = load_requests(path, CATEGORIES, "other")
    assert loaded.layout == SF_LAYOUT
    assert loaded.requests == [Request("Party music", "noise", "Noise Report: Other Noise")]


def test_accuracy_is_counted_per_method_and_category(tmp_path: Path) -> None:
    loaded = load_requests(write_nyc(tmp_path / "nyc.csv", NYC_ROWS), CATEGORIES, "other")
    embedder = FakeEmbedder(["party", "music", "car", "driveway"])
    # Sample: rows 2 and 4 (both parking). LLM-only answers both; combined never asks it,
    # since the keywords decide both texts ("Blocked Hydrant" right, "Loud Music" wrong).
    chat = FakeChatModel(replies=[reply("parking"), reply("noise")])
    report = evaluate(loaded, categories=CATEGORIES, fallback="other", embedder=embedder,
                      chat=chat, sample={2, 4})
    assert report.methods == ("keywords", "embeddings", "no_llm", "llm", "combined")
    assert report.n_by_category == {"noise": 2, "parking": 3, "other": 1}
    assert report.correct["keywords"] == {"noise": 1, "parking": 1, "other": 1}
    # Embeddings: "Loud Music/Party" and "Party music" near noise's example; "Blocked
    # Hydrant" nothing (fallback, wrong); "Car in driveway" parking; "Overcharged" fallback.
    assert report.correct["embeddings"] == {"noise": 2, "parking": 1, "other": 1}
    assert report.correct["no_llm"] == {"noise": 2, "parking": 2, "other": 1}
    assert report.sample_by_category == {"parking": 2}
    assert report.correct["llm"] == {"parking": 1}          # right on row 2, wrong on row 4
    assert report.correct["combined"] == {"parking": 1}     # keywords decide both
    assert report.combined_stages == {"keywords": 2}
    assert len(chat.calls) == 2

    text = format_report(report)
    total = next(line for line in text.splitlines() if line.startswith("TOTAL"))
    assert total.split()[:2] == ["TOTAL", "6"]
    assert "50% (3)" in total and "83% (5)" in total and "2" in total.split("|")[1]
    assert "random sample of 2 rows" in text


def test_llm_failures_count_as_the_fallback(tmp_path: Path) -> None:
    loaded = LoadedRequests([Request("Overcharged", "other", "Consumer Complaint"),
                             Request("Something odd", "noise", "Noise")], NYC_LAYOUT, 0)
    chat = FakeChatModel(replies=["not json", "not json", "not json", "not json"])
    report = evaluate(loaded, categories=CATEGORIES, fallback="other", embedder=None,
                      chat=chat, sample={0, 1})
    assert report.methods == ("keywords", "no_llm", "llm", "combined")
    assert report.llm_errors == 2
    assert report.correct["llm"] == {"other": 1}
    assert report.correct["combined"] == {"other": 1}
    assert report.correct["keywords"] == {"other": 1}


def test_without_an_llm_only_the_rule_methods_are_scored(tmp_path: Path) -> None:
    loaded = load_requests(write_nyc(tmp_path / "nyc.csv", NYC_ROWS), CATEGORIES, "other")
    report = evaluate(loaded, categories=CATEGORIES, fallback="other", embedder=None,
                      chat=None, sample=None)
    assert report.methods == ("keywords", "no_llm")
    assert "llm and combined: not run" in format_report(report)


def test_sample_and_layout_errors(tmp_path: Path) -> None:
    assert len(draw_sample(10, 4, seed=1)) == 4
    assert draw_sample(3, 40, seed=1) == {0, 1, 2}
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(EvaluationError, match="unknown CSV layout"):
        load_requests(bad, CATEGORIES, "other")


def test_the_command_scores_a_311_extract_per_category(tmp_path: Path, cli: Callable[..., Result]) -> None:
    rows = [("Noise - Residential", "Loud Music/Party"), ("Illegal Parking", "Blocked Hydrant"),
            ("Consumer Complaint", "Overcharged")]
    result = cli("eval", "classify", "--city", "nyc", "--data",
                     str(write_nyc(tmp_path / "nyc.csv", rows)), "--no-llm", "--no-embeddings")
    assert result.exit_code == 0, result.output
    assert "truth from complaint_type, text from descriptor; LLM sample 0" in result.stdout
    total = next(line for line in result.stdout.splitlines() if line.startswith("TOTAL"))
    assert total.split()[:2] == ["TOTAL", "3"]
    assert "llm and combined: not run" in result.stdout


def test_the_command_scores_the_bundled_labelled_set_by_default(cli: Callable[..., Result]) -> None:
    result = cli("eval", "classify", "--no-llm", "--no-embeddings", "--limit", "30")
    assert result.exit_code == 0, result.output
    assert "Riverton" in result.stdout and "(30 labelled texts, 160 off-topic)" in result.stdout
    assert "TOTAL" in result.stdout and "combined decided by: keywords" in result.stdout


def test_the_command_needs_data_for_a_city_without_a_bundled_set(cli: Callable[..., Result]) -> None:
    result = cli("eval", "classify", "--city", "sf", "--no-llm")
    assert result.exit_code == 2
    assert "cityloop eval classify: --data is required for sf" in result.stderr
    bad = cli("eval", "classify", "--limit", "0")
    assert bad.exit_code == 2 and "--limit must be 1 or more" in bad.stderr

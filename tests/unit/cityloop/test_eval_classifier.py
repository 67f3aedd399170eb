import json
from pathlib import Path

import pytest

from agents.classifier import CategorySpec
from cityloop.evaluation.classifier import (
    DATA_FILE,
    EvaluationError,
    LabelledText,
    evaluate,
    format_report,
    load_labelled,
)
from dispatch.city.config import load_city
from tests.helpers.config import SAMPLE_CITY
from tests.helpers.fakes import FakeChatModel, FakeEmbedder

CATEGORIES = [
    CategorySpec(code="fallen_tree", name="Fallen tree", keywords=["fallen tree"],
                 examples=["oak down"]),
    CategorySpec(code="pothole", name="Pothole", keywords=["pothole"], examples=["hole road"]),
    CategorySpec(code="other", name="Other"),
]
ROWS = [
    LabelledText("A fallen tree on Elm", "fallen_tree"),
    LabelledText("An oak is down on the lane", "fallen_tree"),
    LabelledText("Huge hole in the road", "pothole"),
    LabelledText("Loud music at night", "other"),
]


def reply(category: str) -> str:
    return json.dumps({"category": category, "confidence": 50})


def test_each_method_is_scored_alone_and_combined() -> None:
    embedder = FakeEmbedder(["oak", "down", "hole", "road"])
    # LLM-only answers all four rows; combined asks it only about "Loud music at night".
    chat = FakeChatModel(replies=[reply("pothole"), reply("pothole"), reply("pothole"),
                                  reply("other"), reply("other")])

    report = evaluate(ROWS, categories=CATEGORIES, fallback="other", embedder=embedder,
                      chat=chat)

    totals = {m: sum(report.correct[m].values()) for m in report.methods}
    assert totals == {"keywords": 2, "embeddings": 3, "llm": 2, "no_llm": 4, "combined": 4}
    assert report.combined_stages == {"keywords": 1, "embedding": 2, "llm": 1}
    table = format_report(report)
    assert "TOTAL" in table and "100% (4)" in table


def test_methods_without_what_they_need_are_left_out() -> None:
    report = evaluate(ROWS, categories=CATEGORIES, fallback="other", embedder=None, chat=None)

    assert report.methods == ("keywords", "combined")


def test_the_bundled_set_covers_every_category_of_the_sample_city() -> None:
    city = load_city(SAMPLE_CITY)

    rows = load_labelled(DATA_FILE, city)

    per_category = {c.code: sum(r.category == c.code for r in rows) for c in city.categories}
    assert len(rows) >= 80
    assert min(per_category.values()) >= 8


def test_unknown_category_in_the_data_is_an_error(tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("text,category\nsmoke on the hill,volcano\n")

    with pytest.raises(EvaluationError, match="volcano"):
        load_labelled(data, load_city(SAMPLE_CITY))

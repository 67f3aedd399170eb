"""``cityloop eval ask``: the bundled questions, their gold filters, and the scores."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from agents.ask import AskFilters, Near
from cityloop.evaluation.ask import (
    DATA_FILES,
    FIELDS,
    Question,
    evaluate,
    load_questions,
    score,
)

TARGET = 0.90
RunCli = Callable[..., Result]


def test_the_bundled_set_is_large_bilingual_and_split_in_halves() -> None:
    questions = load_questions(DATA_FILES)
    assert len(questions) >= 100
    for lang in ("en", "zh"):
        mine = [q for q in questions if q.lang == lang and q.split != "fresh"]
        dev = [q for q in mine if q.split == "dev"]
        assert len(mine) >= 50 and len(dev) * 2 == len(mine)
    assert {q.split for q in questions} == {"dev", "test", "fresh"}
    assert len({q.id for q in questions}) == len(questions)
    assert {q.city for q in questions} == {"riverton", "jiangcheng"}


def test_a_field_compares_as_a_set_an_instant_or_content_words() -> None:
    gold = AskFilters.model_validate({"categories": ["a", "b"], "since": "2024-07-15T00:00:00-05:00",
                                      "text": "white van"})
    same = AskFilters.model_validate({"categories": ["b", "a"], "since": "2024-07-15T05:00:00Z",
                                      "text": "the vans, white"})
    assert all(score(same, gold).values())
    other = gold.model_copy(update={"near": Near(layer="schools", radius_m=300)})
    result = score(other, gold)
    assert not result["near"] and not result["whole"]
    assert all(result[f] for f in FIELDS if f != "near")


def test_the_rules_parser_meets_the_target_per_language_and_half(cli: RunCli) -> None:
    result = cli("eval", "ask", "--no-embeddings", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    rows = {(r["language"], r["split"]): r for r in report["results"] if r["parser"] == "rules"}
    for lang in ("en", "zh"):
        for split in ("dev", "test"):
            assert rows[lang, split]["whole"] >= TARGET, (lang, split)
    assert rows["all", "all"]["n"] == len(load_questions(DATA_FILES))


def test_a_miss_is_reported_with_the_fields_it_got_wrong(tmp_path: Path) -> None:
    gold = AskFilters(categories=["pothole"])
    question = Question(id="x-1", lang="en", split="dev", city="riverton", q="potholes",
                        gold=gold, now=load_questions(DATA_FILES)[0].now)
    report = evaluate([question], {"wrong": lambda q: AskFilters(categories=["graffiti"])})
    assert report.tallies["wrong", "en", "dev"].share() == 0
    assert report.misses[0].fields == {"categories": (["pothole"], ["graffiti"])}


def test_a_broken_question_file_names_its_line(cli: RunCli, tmp_path: Path) -> None:
    broken = tmp_path / "q.jsonl"
    broken.write_text('{"city": "riverton", "now": "2024-07-17T15:00:00-05:00"}\n'
                      '{"id": "a", "lang": "en", "split": "dev", "q": "x", "gold": {"near": 3}}\n')
    result = cli("eval", "ask", "--no-embeddings", "--data", str(broken))
    assert result.exit_code == 2
    assert "line 2" in result.output



def test_the_search_box_baseline_keeps_the_whole_question_as_text() -> None:
    from cityloop.evaluation.ask import search_box_parser

    question = load_questions(DATA_FILES)[0]
    answer = search_box_parser(question)

    assert answer.text == question.q
    assert (answer.categories, answer.districts, answer.since, answer.near) == ([], [], None, None)

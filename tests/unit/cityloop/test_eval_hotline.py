"""The hotline evaluation's report: every retriever, recall on both halves, the hotline's marked."""

from __future__ import annotations

from pathlib import Path

from cityloop.evaluation.abstention import abstention, calibrate
from cityloop.evaluation.hotline import Report, as_json, f1, format_report, load
from dispatch.hotline.kb import HOTLINE_MODE


def test_report_shows_each_retriever_with_both_halves_and_marks_the_hotline_s() -> None:
    report = Report(documents=4, questions=4,
                    recall={"fulltext": {1: 0.25, 5: 0.5}, "vector": {1: 0.5, 5: 1.0},
                            "hybrid": {1: 0.25, 5: 1.0}},
                    recall1_halves={"fulltext": (0.5, 0.0), "vector": (0.5, 0.5), "hybrid": (0.0, 0.5)})
    lines = format_report(report, model="no LLM").splitlines()
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in report.recall}
    assert rows["vector"].split()[1:6] == ["0.500", "1.000", "0.500", "/", "0.500"]
    assert rows["fulltext"].split()[3:6] == ["0.500", "/", "0.000"]
    marked = [mode for mode, line in rows.items() if "the hotline's" in line]
    assert marked == [HOTLINE_MODE]


def test_every_distinct_answer_is_its_own_document_even_on_one_page(tmp_path: Path) -> None:
    data = tmp_path / "faq.csv"
    data.write_text(
        "sourceName,sourceUrl,question,answer\n"
        "FDA,https://fda.example/faq,Can I wash my hands?,Yes. Wash them often.\n"
        "FDA,https://fda.example/faq,Do masks help?,Masks reduce spread.\n"
        "FDA,https://fda.example/faq,Should I wear a mask?,Masks reduce spread.\n"
        "Kansas,https://ks.example/faq,Do masks help?,Wear one indoors.\n", encoding="utf-8")

    docs, cases = load(data)

    assert len(docs) == 3  # one per distinct answer; the two pages' titles no longer merge them
    assert len({d.source for d in docs}) == 3
    by_question = {c.question: c for c in cases}
    assert len(by_question["Do masks help?"].answers) == 2  # asked on two pages, two right answers
    assert by_question["Should I wear a mask?"].answers < by_question["Do masks help?"].answers


def test_f1_scores_the_shown_text_against_the_reference_answer() -> None:
    reference = "Bulk pickup is free once a month. Place items at the curb after 6 pm."

    assert f1(reference, reference) == 1.0
    assert f1("Place items at the curb after 6 pm.", reference) > f1("Fines apply to dumping.", reference)
    assert f1("", reference) == 0.0


def test_calibration_separates_the_scores_and_is_reported_on_the_other_half() -> None:
    answerable = [0.8, 0.7, 0.75, 0.65, 0.6, 0.72]
    off_topic = [0.2, 0.3, 0.35, 0.25, 0.62, 0.1]

    assert 0.35 < calibrate(answerable, off_topic) <= 0.6
    figures = abstention(answerable, off_topic, threshold=0.4)
    assert (figures.off_topic_refused, figures.answerable_refused) == (5 / 6, 0.0)
    assert figures.as_json()["calibrated"]["answerable_refused_odd"] == 0.0


def test_the_json_has_the_hotline_retrievers_recall_and_both_abstention_figures() -> None:
    report = Report(documents=2, questions=2, recall={"vector": {1: 0.5, 5: 1.0}},
                    recall1_halves={"vector": (1.0, 0.0)}, shown_f1={"passage": 0.5, "span": 0.4},
                    abstention=abstention([0.8, 0.7], [0.1, 0.2], threshold=0.4))

    data = as_json(report)

    assert (data["recall_at_1"], data["recall_at_5"]) == (0.5, 1.0)
    assert data["abstention"]["off_topic_refused"] == 1.0
    assert data["abstention"]["answerable_refused"] == 0.0


def test_where_the_hotline_uses_bm25_its_row_is_marked_and_both_lexical_scores_reported() -> None:
    report = Report(documents=4, questions=4, retriever="bm25",
                    recall={"fulltext": {1: 0.25, 5: 0.5}, "bm25": {1: 0.5, 5: 0.75}},
                    recall1_halves={"fulltext": (0.5, 0.0), "bm25": (0.5, 0.5)},
                    lexical_abstention=abstention([0.8, 0.7], [0.1, 0.5], threshold=0.34),
                    coverage_abstention=abstention([0.8, 0.3], [0.1, 0.5], threshold=0.45))

    lines = format_report(report, model="no LLM").splitlines()
    data = as_json(report)

    assert [line.split()[0] for line in lines if "the hotline's" in line and "<-" in line] == ["bm25"]
    assert (data["retriever"], data["recall_at_1"], data["recall_at_5"]) == ("bm25", 0.5, 0.75)
    assert data["lexical_abstention"]["off_topic_refused"] == 0.5
    assert data["coverage_abstention"]["answerable_refused"] == 0.5

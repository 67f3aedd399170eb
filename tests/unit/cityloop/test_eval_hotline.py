"""The hotline evaluation's report: every retriever, recall on both halves, the hotline's marked."""

from __future__ import annotations

from cityloop.evaluation.hotline import Report, format_report
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

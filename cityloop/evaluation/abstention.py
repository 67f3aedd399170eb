"""Abstention figures shared by the evaluations: a score threshold below which the system
says it does not know (the hotline) or does not decide (the classifier).

A threshold is calibrated on the even-numbered items of both sets (answerable and
off-topic) by balanced accuracy, and reported on the odd-numbered ones, so the figure
is not measured on the data that chose it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def refused(scores: Sequence[float], threshold: float) -> float:
    """The share of ``scores`` below ``threshold``."""
    return sum(score < threshold for score in scores) / len(scores) if scores else 0.0


def calibrate(answerable: Sequence[float], off_topic: Sequence[float]) -> float:
    """The threshold that best separates answerable from off-topic scores: the highest
    balanced accuracy (off-topic refused + answerable answered) / 2, the lower threshold on
    a tie."""
    candidates = sorted({round(s, 4) for s in (*answerable, *off_topic)} | {0.0})
    best, best_score = 0.0, -1.0
    for threshold in candidates:
        score = refused(off_topic, threshold) + 1 - refused(answerable, threshold)
        if score > best_score + 1e-12:
            best, best_score = threshold, score
    return best


@dataclass(frozen=True)
class Abstention:
    threshold: float
    off_topic_refused: float
    answerable_refused: float
    calibrated: float
    calibrated_off_topic_refused: float
    calibrated_answerable_refused: float
    answerable: int
    off_topic: int

    def as_json(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "off_topic_refused": round(self.off_topic_refused, 4),
                "answerable_refused": round(self.answerable_refused, 4),
                "calibrated": {"threshold": self.calibrated,
                               "off_topic_refused_odd": round(self.calibrated_off_topic_refused, 4),
                               "answerable_refused_odd": round(self.calibrated_answerable_refused, 4)},
                "answerable": self.answerable, "off_topic": self.off_topic}

    def lines(self) -> list[str]:
        return [f"abstention ({self.answerable} answerable, {self.off_topic} off-topic questions):",
                f"  at threshold {self.threshold:.3f}: off-topic refused {self.off_topic_refused:.3f}, "
                f"answerable refused {self.answerable_refused:.3f}",
                f"  calibrated on the even half, {self.calibrated:.3f}: on the odd half off-topic refused "
                f"{self.calibrated_off_topic_refused:.3f}, answerable refused "
                f"{self.calibrated_answerable_refused:.3f}"]


def abstention(answerable: Sequence[float], off_topic: Sequence[float], threshold: float) -> Abstention:
    """Figures at ``threshold``, and at the threshold calibrated on the even half."""
    calibrated = calibrate(answerable[0::2], off_topic[0::2])
    return Abstention(
        threshold=threshold, off_topic_refused=refused(off_topic, threshold),
        answerable_refused=refused(answerable, threshold), calibrated=calibrated,
        calibrated_off_topic_refused=refused(off_topic[1::2], calibrated),
        calibrated_answerable_refused=refused(answerable[1::2], calibrated),
        answerable=len(answerable), off_topic=len(off_topic))

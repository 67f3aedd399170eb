"""Detector accuracy on YOLO-format labelled images: AP at IoU 0.5, per class and mean.

AP is the PASCAL VOC (2010+) all-point interpolated area under the precision/recall
curve: detections of a class are ranked by confidence over all images, each one matches
the unmatched ground-truth box of its image it overlaps most (IoU ≥ 0.5), later ones
on the same box are false positives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv
import yaml

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class LabelError(ValueError):
    """A label file or class list that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Sample:
    image: Path
    xyxy: np.ndarray  # [n, 4] pixels
    class_id: np.ndarray  # [n]


@dataclass(frozen=True)
class ClassResult:
    name: str
    ap: float
    ground_truth: int
    detections: int
    true_positives: int


@dataclass(frozen=True)
class Report:
    classes: list[ClassResult] = field(default_factory=list)
    iou: float = 0.5

    @property
    def mean_ap(self) -> float:
        scored = [c.ap for c in self.classes if c.ground_truth > 0]
        return float(np.mean(scored)) if scored else 0.0


def read_class_names(data_yaml: Path) -> list[str]:
    """``names`` of a YOLO ``data.yaml`` (a list, or a mapping index → name)."""
    try:
        data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LabelError(f"{data_yaml}: cannot read the class list: {exc}") from exc
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise LabelError(f"{data_yaml}: 'names' must be a non-empty list of class names")
    return names


def read_yolo_labels(path: Path, width: int, height: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One YOLO label file (``class cx cy w h``, normalised) → pixel ``xyxy`` and class ids."""
    boxes: list[list[float]] = []
    classes: list[int] = []
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            raise LabelError(f"{path}:{number}: expected 5 fields 'class cx cy w h', got {len(fields)}")
        try:
            cls, cx, cy, w, h = int(fields[0]), *map(float, fields[1:])
        except ValueError:
            raise LabelError(f"{path}:{number}: not numbers: {line.strip()[:80]!r}") from None
        if not 0 <= cls < num_classes:
            raise LabelError(f"{path}:{number}: class {cls} is outside 0..{num_classes - 1}")
        boxes.append(
            [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]
        )
        classes.append(cls)
    return np.array(boxes, dtype=np.float32).reshape(-1, 4), np.array(classes, dtype=int)


def iter_images(images_dir: Path) -> Iterator[Path]:
    if not images_dir.is_dir():
        raise LabelError(f"--images: {images_dir} is not a directory")
    yield from sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_sample(image: Path, labels_dir: Path, size: tuple[int, int], num_classes: int) -> Sample:
    width, height = size
    xyxy, class_id = read_yolo_labels(labels_dir / (image.stem + ".txt"), width, height, num_classes)
    return Sample(image, xyxy, class_id)


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated AP (VOC 2010+): area under the monotone precision envelope."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def _class_ap(
    samples: Sequence[Sample], predictions: Sequence[sv.Detections], cls: int, iou: float
) -> tuple[float, int, int, int]:
    gt_total = sum(int((s.class_id == cls).sum()) for s in samples)
    ranked: list[tuple[float, int, np.ndarray]] = []
    for index, det in enumerate(predictions):
        mask = det.class_id == cls
        confidence = det.confidence if det.confidence is not None else np.ones(len(det))
        ranked += [(float(c), index, box) for c, box in zip(confidence[mask], det.xyxy[mask], strict=True)]
    ranked.sort(key=lambda r: -r[0])
    matched = [np.zeros(int((s.class_id == cls).sum()), dtype=bool) for s in samples]
    hits = np.zeros(len(ranked), dtype=bool)
    for rank, (_, index, box) in enumerate(ranked):
        gt = samples[index].xyxy[samples[index].class_id == cls]
        if not len(gt):
            continue
        overlaps = sv.box_iou_batch(box[None, :], gt)[0]
        best = int(np.argmax(overlaps))
        if overlaps[best] >= iou and not matched[index][best]:
            matched[index][best] = hits[rank] = True
    if gt_total == 0:
        return 0.0, 0, len(ranked), 0
    tp = np.cumsum(hits)
    recall = tp / gt_total
    precision = tp / np.arange(1, len(ranked) + 1)
    return average_precision(recall, precision), gt_total, len(ranked), int(hits.sum())


def evaluate(
    samples: Sequence[Sample],
    predictions: Sequence[sv.Detections],
    class_names: Sequence[str],
    iou: float = 0.5,
) -> Report:
    """AP of each class over ``samples``; ``predictions[i]`` belongs to ``samples[i]``."""
    if len(samples) != len(predictions):
        raise ValueError(f"{len(samples)} samples but {len(predictions)} prediction sets")
    results = []
    for cls, name in enumerate(class_names):
        ap, gt, dets, tps = _class_ap(samples, predictions, cls, iou)
        results.append(ClassResult(name, ap, gt, dets, tps))
    return Report(results, iou)


def format_report(report: Report) -> str:
    width = max([len(c.name) for c in report.classes] + [5])
    lines = [f"{'class':<{width}}  AP@{report.iou:.2f}  ground truth  detections  true positives"]
    for c in report.classes:
        lines.append(
            f"{c.name:<{width}}  {c.ap:7.4f}  {c.ground_truth:12d}  {c.detections:10d}  "
            f"{c.true_positives:14d}"
        )
    lines.append(f"{'mean':<{width}}  {report.mean_ap:7.4f}")
    return "\n".join(lines)

"""Learned request-type and agency models against the most-frequent baseline, on real city data.

    python bench/learned_models.py [--data DIR] [--train-share 0.7] [--json]

Data (read with ``dispatch.learning.history_files.read_history``, as an import would):

- NYC 311 sample (``311/nyc311_sample.csv``): request type = ``complaint_type``, agency =
  ``agency``, district = ``borough``.
- SF 311 sample (``311/sf311_sample.csv``): request type = ``category``, SF's Open311
  service name (37 values such as "Street and Sidewalk Cleaning"): it is the type a resident
  picks at intake and the level a city configures routing for; ``complaint_type`` is its
  subtype (234 values, many with a handful of rows). Agency = ``agency_name`` (the queue the
  case went to), district = ``supervisor_district``.
- Chinese citizen messages (``zh/gov_messages_by_domain.csv``): request type =
  ``problem_type`` (投诉/求助, 咨询, 建言); "agency" = ``domain``, the coarse topic that stands
  in for the handling department (the file has none). Rows with an empty domain are left out
  of the router task.

Neither 311 file has a free-text description, so their text is ``descriptor`` (a short
phrase picked with the type): read their figures as a proxy. The Chinese messages are real
free text (median ~135 characters).

Split: the 311 files are split by time, the first ``--train-share`` of rows by created date
for training and the rest for testing. The Chinese file has no dates, so it is split by a
hash of the text (SHA-256 of the text, the same split every run).

For each task: the most-frequent-label baseline (the training set's commonest label), the
learned model (``agents.learned.TextModel`` for the request type, ``RouterModel`` on
(request type, district, text) for the agency), the share of test rows the model predicts
with confidence ≥ 0.9 and its accuracy there, the mean confidence (equal to the accuracy when
the model is calibrated), and the share of test rows whose label never occurs in training
(no model can get those right; the time split shows how a city's types drift). Agency tasks
also show a category-rule baseline: each request type's commonest agency in training, as a
routing table would map it.
The last line holds learned accuracy / most-frequent accuracy per task.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.learned import RouteInput, RouterModel, TextModel, evaluate, most_frequent_baseline
from dispatch.learning.history_files import ColumnMap, HistoryRow, read_history

DATASETS: dict[str, tuple[str, str]] = {
    "nyc": (
        "311/nyc311_sample.csv",
        "text=descriptor,category=complaint_type,agency=agency,created_at=created_date,district=borough",
    ),
    "sf": (
        "311/sf311_sample.csv",
        "text=descriptor,category=category,agency=agency_name,created_at=created_date,"
        "district=supervisor_district",
    ),
    "zh": ("zh/gov_messages_by_domain.csv", "text=text,category=problem_type,agency=domain"),
}


@dataclass(frozen=True)
class TaskResult:
    dataset: str
    task: str
    split: str
    n_train: int
    n_test: int
    n_labels: int
    strategy: str
    unlearned_labels: int
    fit_s: float
    model_mb: float
    unseen_labels_share: float
    most_frequent: float
    category_rule: float | None
    learned: float
    mean_confidence: float
    confident_share: float
    confident_accuracy: float
    per_label: list[dict[str, object]]


def load(data: Path, name: str) -> tuple[list[HistoryRow], int]:
    relative, spec = DATASETS[name]
    rows: list[HistoryRow] = []
    bad = 0
    for result in read_history(data / relative, ColumnMap.parse(spec)):
        if isinstance(result, HistoryRow):
            rows.append(result)
        else:
            bad += 1
    return rows, bad


def split(rows: list[HistoryRow], share: float) -> tuple[list[HistoryRow], list[HistoryRow], str]:
    if all(row.created_at is not None for row in rows):
        ordered = sorted(rows, key=lambda row: (row.created_at, row.line))
        cut = int(len(ordered) * share)
        return ordered[:cut], ordered[cut:], "time-ordered"
    threshold = int(share * 2**32)
    train = [row for row in rows if _text_hash(row.text) < threshold]
    test = [row for row in rows if _text_hash(row.text) >= threshold]
    return train, test, "hash of text (no dates)"


def _text_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def category_rule(train: list[HistoryRow], test: list[HistoryRow]) -> float:
    """Accuracy of mapping each request type to its commonest agency in training."""
    by_category: dict[str | None, Counter[str]] = defaultdict(Counter)
    for row in train:
        if row.agency:
            by_category[row.category][row.agency] += 1
    fallback = Counter(row.agency for row in train if row.agency).most_common(1)[0][0]
    table = {category: counts.most_common(1)[0][0] for category, counts in by_category.items()}
    return sum(table.get(row.category, fallback) == row.agency for row in test) / len(test)


def run_task(
    dataset: str, task: str, split_name: str, train: list[HistoryRow], test: list[HistoryRow]
) -> TaskResult:
    field = "category" if task == "request type" else "agency"
    train = [row for row in train if getattr(row, field)]
    test = [row for row in test if getattr(row, field)]
    train_labels = [str(getattr(row, field)) for row in train]
    test_labels = [str(getattr(row, field)) for row in test]
    known = set(train_labels)
    started = time.perf_counter()
    if field == "category":
        text_model = TextModel().fit([row.text for row in train], train_labels)
        fit_s = time.perf_counter() - started
        metrics = evaluate(text_model, [row.text for row in test], test_labels)
        model: TextModel | RouterModel = text_model
    else:
        router = RouterModel().fit([_route(row) for row in train], train_labels)
        fit_s = time.perf_counter() - started
        metrics = evaluate(router, [_route(row) for row in test], test_labels)
        model = router
    return TaskResult(
        dataset=dataset,
        task=task,
        split=split_name,
        n_train=len(train),
        n_test=len(test),
        n_labels=len(set(train_labels)),
        strategy=str(model.strategy),
        unlearned_labels=len(model.unlearned_labels),
        fit_s=round(fit_s, 2),
        model_mb=round(len(model.to_bytes()) / 1e6, 1),
        unseen_labels_share=sum(label not in known for label in test_labels) / len(test_labels),
        most_frequent=most_frequent_baseline(train_labels, test_labels),
        category_rule=category_rule(train, test) if field == "agency" else None,
        learned=metrics.accuracy,
        mean_confidence=metrics.mean_confidence,
        confident_share=metrics.confident_share,
        confident_accuracy=metrics.confident_accuracy,
        per_label=[
            {"label": item.label, "support": item.support, "accuracy": round(item.accuracy, 3)}
            for item in metrics.per_label
        ],
    )


def _route(row: HistoryRow) -> RouteInput:
    return RouteInput(category=row.category, district=row.district, text=row.text)


COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("train", "n_train", 6),
    ("test", "n_test", 6),
    ("labels", "n_labels", 6),
    ("unseen", "unseen_labels_share", 6),
    ("most-freq", "most_frequent", 9),
    ("cat-rule", "category_rule", 8),
    ("learned", "learned", 8),
    ("mean-conf", "mean_confidence", 9),
    ("conf>=.9", "confident_share", 8),
    ("acc@.9", "confident_accuracy", 7),
    ("fit s", "fit_s", 6),
    ("MB", "model_mb", 5),
)


def _cell(value: object, width: int) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:{width}.3f}" if value < 1.0 or value == 1.0 else f"{value:{width}.1f}"
    return f"{value:>{width}}"


def print_table(results: Sequence[TaskResult], bad_rows: dict[str, int]) -> None:
    print(f"bad rows skipped: {bad_rows}")
    print(
        f"{'dataset':8} {'task':13} "
        + " ".join(title.rjust(width) for title, _, width in COLUMNS)
        + "  split"
    )
    for r in results:
        cells = " ".join(_cell(getattr(r, field), width) for _, field, width in COLUMNS)
        print(f"{r.dataset:8} {r.task:13} {cells}  {r.split}")
    for r in results:
        top = ", ".join(
            f"{item['label']} {item['accuracy']:.2f} (n={item['support']})" for item in r.per_label[:5]
        )
        print(f"  {r.dataset} {r.task}, largest labels: {top}")


def _ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}" if baseline else "inf (baseline 0)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--train-share", type=float, default=0.7)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    results: list[TaskResult] = []
    bad_rows: dict[str, int] = {}
    for dataset in DATASETS:
        rows, bad_rows[dataset] = load(args.data, dataset)
        train, test, split_name = split(rows, args.train_share)
        for task in ("request type", "agency"):
            results.append(run_task(dataset, task, split_name, train, test))
    if args.json:
        print(json.dumps({"bad_rows": bad_rows, "results": [asdict(r) for r in results]}, ensure_ascii=False))
        return 0
    print_table(results, bad_rows)
    ratios = "; ".join(f"{r.dataset} {r.task} {_ratio(r.learned, r.most_frequent)}" for r in results)
    print(f"ratio learned/most_frequent accuracy: {ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

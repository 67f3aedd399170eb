"""A new city from its own records, measured: draft a city file from the older 80% of a 311
extract, then score the newest 20% (time-ordered split) with the drafted file, the shipped
hand-written file, and the learned models; categories too (keywords, embeddings, learned).

    .venv/bin/python bench/city_from_history.py nyc ../shared/data/311/nyc311_sample.csv
    .venv/bin/python bench/city_from_history.py sf ../shared/data/311/sf311_sample.csv [--split hash]
        [--agencies as-named]

Prints one JSON object per measurement; every figure comes from the same commands a user runs
(`cityloop city init`, `cityloop eval routing|classify --split time --json`). Beside them,
``"measure": "tables"`` puts the drafted file's routing next to what any table learnt from the
training rows reaches on the same test rows (type -> agency, and (type, text) -> agency backing
off to the type), and next to the type-only ceiling (the best any type -> agency table can do
on the test rows, knowing them); the ``ceiling`` of ``eval routing`` also sees the text.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable
from datetime import datetime
from pathlib import Path

from cityloop.cli.system import city_path
from cityloop.evaluation.routing import Case, load_mapped_cases, rules_agency
from cityloop.evaluation.split import Split, ceiling, split_rows
from dispatch.city.config import load_city
from dispatch.learning.history_files import ColumnMap
from dispatch.learning.history_values import read_datetime

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = {
    # text: what the citizen wrote or chose beyond the type; category: the request type
    "nyc": {"map": "text=descriptor,category=complaint_type,agency=agency,created_at=created_date,"
                   "district=borough", "eval_map": "text=descriptor,category=complaint_type,agency=agency,"
                   "created_at=created_date,lat=latitude,lon=longitude", "tz": "America/New_York"},
    "sf": {"map": "text=descriptor,category=complaint_type,agency=agency_name,created_at=created_date,"
                  "district=neighborhood", "eval_map": "text=descriptor,category=complaint_type,"
                  "agency=agency_name,created_at=created_date,lat=latitude,lon=longitude",
           "tz": "America/Los_Angeles"},
}


def cityloop(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "cityloop", *args], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    if done.returncode:
        raise SystemExit(f"cityloop {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def train_part(source: Path, target: Path, split: Split = "time") -> int:
    """The rows of ``source`` that ``split`` trains on (time: the older 80%; hash: four buckets
    in five), in the same layout."""
    with source.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        rows: list[dict[str, str]] = []
        lines: list[int] = []
        end = reader.line_num
        for cells in reader:  # each record's first line, numbered as `read_history` numbers it
            line, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            rows.append(dict(zip(header, cells, strict=False)))
            lines.append(line)
    dates: list[datetime | None] = [read_datetime("created_date", r.get("created_date"), None) for r in rows]
    train, _ = split_rows(rows, split, dates=dates, keys=lines)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(train)
    return len(train)


def _table(rows: list[Case], key: Callable[[Case], Hashable]) -> dict[Hashable, str]:
    counts: dict[Hashable, Counter[str]] = defaultdict(Counter)
    for case in rows:
        counts[key(case)][case.truth] += 1
    return {k: c.most_common(1)[0][0] for k, c in counts.items()}


def tables(drafted: Path, data: Path, columns: str, split: Split = "time") -> dict[str, object]:
    """The drafted file against tables learnt from the same training rows, on the same test
    rows as ``eval routing --split time`` (its cases, its split)."""
    city = load_city(drafted)
    cases = load_mapped_cases(data, city, ColumnMap.parse(columns)).cases
    train, test = split_rows(cases, split, dates=[case.at for case in cases],
                              keys=[case.line for case in cases])
    by_type = _table(train, lambda case: case.category)
    by_text = _table(train, lambda case: case.visible)
    truth = [case.truth for case in test]

    def share(answers: list[str | None]) -> float:
        return round(sum(a == t for a, t in zip(answers, truth, strict=True)) / len(truth), 4)

    routed = share([rules_agency(city, case) for case in test])
    full = ceiling([case.visible for case in test], truth)
    return {"rows": len(test), "drafted_file": routed,
            "train_type_table": share([by_type.get(case.category) for case in test]),
            "train_type_text_table": share([by_text.get(case.visible, by_type.get(case.category))
                                            for case in test]),
            "type_ceiling": round(ceiling([case.category for case in test], truth), 4),
            "ceiling": round(full, 4), "drafted_share_of_ceiling": round(routed / full, 4) if full else None}


def on_hand_written_agencies(drafted: Path, hand_written: str, data: Path, columns: str, hand_columns: str,
                             split: Split = "time") -> dict[str, object]:
    """Both files judged by one yardstick that is not the draft's own: the hand-written file's
    agencies. A drafted agency counts as the hand-written agency its name (or a record name it
    was folded from) answers to; the test rows are the drafted evaluation's, where the
    hand-written file knows the record's agency."""
    draft, hand = load_city(drafted), load_city(city_path(hand_written))
    cases = load_mapped_cases(data, draft, ColumnMap.parse(columns)).cases
    _, test = split_rows(cases, split, dates=[case.at for case in cases], keys=[case.line for case in cases])
    hand_cases = {case.line: case for case in load_mapped_cases(data, hand, ColumnMap.parse(hand_columns)).cases}
    hand_truth = {line: case.truth for line, case in hand_cases.items()}

    def as_hand(code: str | None) -> str | None:
        agency = draft.agency(code) if code else None
        if agency is None:
            return None
        return next((found for name in (agency.name, *agency.aliases)
                     if (found := hand.agency_for_name(name.rstrip("* _-"))) is not None), None)

    rows = [case for case in test if case.line in hand_truth]
    drafted_right = sum(as_hand(rules_agency(draft, case)) == hand_truth[case.line] for case in rows)
    hand_right = sum(rules_agency(hand, hand_cases[case.line]) == hand_truth[case.line] for case in rows)
    return {"rows": len(rows), "drafted_file": round(drafted_right / max(len(rows), 1), 4),
            "hand_written_file": round(hand_right / max(len(rows), 1), 4)}


def main(city: str, data: Path, split: Split = "time", agencies: str = "departments") -> None:
    layout = LAYOUTS[city]
    with tempfile.TemporaryDirectory() as folder:
        train = Path(folder) / f"{city}_train.csv"
        drafted = Path(folder) / f"{city}_drafted.yaml"
        size = train_part(data, train, split)
        cityloop("city", "init", "--from-history", str(train), "--map", layout["map"], "--timezone",
                 layout["tz"], "--agencies", agencies, "-o", str(drafted))
        for label, city_file, columns in (("drafted", str(drafted), layout["map"]),
                                          ("hand-written", city, layout["eval_map"])):
            report = json.loads(cityloop("eval", "routing", "--city", city_file, "--data", str(data),
                                         "--map", columns, "--split", split, "--json"))
            print(json.dumps({"city": city, "measure": "routing", "file": label, "agencies": agencies,
                              "drafted_from": size, **report}))
        print(json.dumps({"city": city, "measure": "tables", "split": split, "agencies": agencies,
                          **tables(drafted, data, layout["map"], split)}))
        print(json.dumps({"city": city, "measure": "on_hand_written_agencies", "split": split, "agencies": agencies,
                          **on_hand_written_agencies(drafted, city, data, layout["map"], layout["eval_map"], split)}))
        for label, city_file in (("drafted", str(drafted)), ("hand-written", city)):
            report = json.loads(cityloop("eval", "classify", "--city", city_file, "--data", str(data),
                                         "--map", layout["map"], "--split", split, "--json"))
            print(json.dumps({"city": city, "measure": "categories", "file": label, **report}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("city", choices=sorted(LAYOUTS))
    parser.add_argument("data", type=Path)
    parser.add_argument("--split", choices=["time", "hash"], default="time",
                        help="time: draft from the older 80%%, score the newest 20%%; hash: one row in five held out")
    parser.add_argument("--agencies", choices=["departments", "as-named"], default="departments",
                        help="`cityloop city init --agencies`: queues folded into departments, or one agency per name")
    args = parser.parse_args()
    main(args.city, args.data, args.split, args.agencies)

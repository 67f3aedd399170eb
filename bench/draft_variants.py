"""How far a drafted city file can get: the same records drafted with other settings, each
scored on the test rows of `eval routing --split time|hash`, beside the type-only ceiling.

    .venv/bin/python bench/draft_variants.py sf ../shared/data/311/sf311_sample.csv [--split time]

The settings are tuned on the test rows themselves here (that is the point: an upper bound of
the draft's structure, a type -> agency default plus (type, short text) keyword rules and
(type, district) rules), so the best row is no result a city would get. `city init` chooses
its half-life and text-rule setting on the training rows alone. Each row gives its share of
the type-only ceiling and of the ceiling that also sees the text (`eval routing`'s).
Prints one JSON object per variant, then the best with `"measure": "best"`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

from city_from_history import LAYOUTS, train_part  # beside this file

from cityloop.evaluation.routing import load_mapped_cases, rules_agency
from cityloop.evaluation.split import Split, ceiling, split_rows
from dispatch.city.config import load_city
from dispatch.learning.drafting import AUTO, TEXT_RULE_SETTINGS, draft_city, tally
from dispatch.learning.history_files import ColumnMap, read_history

HALF_LIVES: tuple[float | None | str, ...] = (None, 365.0, AUTO)
DISTRICT_RULES = ((20, 0.8), (5, 0.6), (3, 0.5))  # (min rows, min share)
TEXT_RULES: tuple[object, ...] = (None, *TEXT_RULE_SETTINGS, AUTO)


def main(city: str, data: Path, split: Split) -> None:
    layout = LAYOUTS[city]
    columns = ColumnMap.parse(layout["map"])
    with tempfile.TemporaryDirectory() as folder:
        train = Path(folder) / "train.csv"
        train_part(data, train, split)
        counts = tally(read_history(train, columns))
        best: dict[str, object] = {}
        test = truth = None
        type_ceiling = full_ceiling = 0.0
        for half_life, (min_rows, min_share), text_rules in itertools.product(HALF_LIVES, DISTRICT_RULES, TEXT_RULES):
            drafted = Path(folder) / "drafted.yaml"
            drafted.write_text(draft_city(counts, name=city, timezone=layout["tz"], half_life=half_life,  # type: ignore[arg-type]
                                          rule_min_rows=min_rows, rule_min_share=min_share,
                                          text_rule_setting=text_rules), encoding="utf-8")  # type: ignore[arg-type]
            config = load_city(drafted)
            if test is None:  # the same rows for every variant: codes come from the names
                cases = load_mapped_cases(data, config, columns).cases
                _, test = split_rows(cases, split, dates=[c.at for c in cases], keys=[c.line for c in cases])
                truth = [c.truth for c in test]
                type_ceiling = ceiling([c.category for c in test], truth)
                full_ceiling = ceiling([c.visible for c in test], truth)
            assert truth is not None
            accuracy = sum(rules_agency(config, c) == t for c, t in zip(test, truth, strict=True)) / len(truth)
            row = {"city": city, "split": split, "half_life": half_life, "rule_min_rows": min_rows,
                   "rule_min_share": min_share, "text_rules": text_rules,
                   "rules": drafted.read_text().count("\n    - id: "),
                   "accuracy": round(accuracy, 4), "type_ceiling": round(type_ceiling, 4),
                   "of_type_ceiling": round(accuracy / type_ceiling, 4), "ceiling": round(full_ceiling, 4),
                   "of_ceiling": round(accuracy / full_ceiling, 4)}
            print(json.dumps(row))
            if not best or accuracy > float(best["accuracy"]):  # type: ignore[arg-type]
                best = row
        print(json.dumps({**best, "measure": "best"}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("city", choices=sorted(LAYOUTS))
    parser.add_argument("data", type=Path)
    parser.add_argument("--split", choices=["time", "hash"], default="time")
    args = parser.parse_args()
    main(args.city, args.data, args.split)

"""`cityloop city init` at a city's scale: a million records over ten years, drafted with and
without the text-rule check, in one process.

    .venv/bin/python bench/city_init_scale.py [--rows 1000000]

The records are NYC's sample rows (type, descriptor, agency, borough) repeated with dates spread
over 2010–2019. Prints the seconds to read and count them (``tally``), to draft without text
rules (the baseline: type defaults and district rules), to draft with the text rules chosen on
the newest records (what `city init` does), their ratio, and the peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from dispatch.learning.drafting import draft_city, tally
from dispatch.learning.history_files import ColumnMap, read_history

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "311" / "nyc311_sample.csv"
COLUMNS = "text=descriptor,category=complaint_type,agency=agency,created_at=created_date,district=borough"


def write_records(target: Path, rows: int, seed: int = 1) -> None:
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        sample = list(csv.DictReader(handle))
    pick = random.Random(seed)
    start = datetime(2010, 1, 1)
    with target.open("w", newline="", encoding="utf-8") as handle:
        fields = ["created_date", "agency", "complaint_type", "descriptor", "borough"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for n in range(rows):
            row = sample[n % len(sample)]
            when = start + timedelta(seconds=pick.randrange(0, 3650 * 86400))
            writer.writerow({"created_date": when.isoformat(), "agency": row["agency"],
                             "complaint_type": row["complaint_type"], "descriptor": row["descriptor"],
                             "borough": row["borough"]})


def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "records.csv"
        write_records(source, rows)
        began = time.perf_counter()
        counts = tally(read_history(source, ColumnMap.parse(COLUMNS)))
        read_s = time.perf_counter() - began
    began = time.perf_counter()
    without = draft_city(counts, name="scale", text_rule_setting=None)
    baseline_s = time.perf_counter() - began
    began = time.perf_counter()
    drafted = draft_city(counts, name="scale")
    drafted_s = time.perf_counter() - began
    print(json.dumps({"rows": counts.rows, "tally_s": round(read_s, 2),
                      "draft_without_text_rules_s": round(baseline_s, 2),
                      "draft_s": round(drafted_s, 2), "ratio_draft_over_baseline": round(drafted_s / baseline_s, 2),
                      "text_rules": drafted.count("\n    - id:") - without.count("\n    - id:"),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    main(parser.parse_args().rows)

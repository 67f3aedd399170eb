"""The train/test split every `eval --split` uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cityloop.evaluation.split import split_rows


def test_time_split_holds_out_the_newest_fifth() -> None:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    rows = list(range(10))
    dates = [start + timedelta(days=d) for d in (9, 0, 8, 1, 7, 2, 6, 3, 5, 4)]
    train, test = split_rows(rows, "time", dates=dates)
    assert sorted(test) == [0, 2]  # days 9 and 8
    assert len(train) == 8


def test_hash_split_keyed_by_line_does_not_move_when_other_rows_are_left_out() -> None:
    """A city file drafted from one side of a file must not see the other side's rows, even
    when the evaluation leaves some rows out (an unmapped agency, a bad date)."""
    lines = list(range(2, 2002))
    rows = [f"row at line {n}" for n in lines]
    _, test_all = split_rows(rows, "hash", dates=[None] * len(rows), keys=lines)
    kept = [i for i in range(len(rows)) if i % 7]  # every seventh row left out
    _, test_kept = split_rows([rows[i] for i in kept], "hash", dates=[None] * len(kept),
                              keys=[lines[i] for i in kept])
    assert set(test_kept) == set(test_all) - {rows[i] for i in range(len(rows)) if i % 7 == 0}
    assert 0.15 < len(test_all) / len(rows) < 0.25

    # by position instead, the same rows land on other sides once rows are left out
    _, by_position = split_rows([rows[i] for i in kept], "hash", dates=[None] * len(kept))
    assert set(by_position) != set(test_kept)

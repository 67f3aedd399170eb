"""The input policy's rules on their own (``dispatch.core.inputs``); every surface applies
them (``tests/integration/test_input_policy.py``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dispatch.core.inputs import (
    int_problem,
    json_problems,
    megapixels_problem,
    moment_problem,
    text_problem,
)


@pytest.mark.parametrize("text", ["plain", "tab\tand\nnew line\r\n", "树倒了", "emoji 🌳", ""])
def test_text_a_person_types_is_accepted(text: str) -> None:
    assert text_problem(text) is None


@pytest.mark.parametrize(("text", "shown"), [("a\x00b", "U+0000 at position 1"),
                                             ("\x1b[31m", "U+001B at position 0"),
                                             ("del\x7f", "U+007F at position 3"),
                                             ("x\ud800", "lone surrogate at position 1")])
def test_controls_and_lone_surrogates_are_named_with_their_position(text: str, shown: str) -> None:
    assert shown in (text_problem(text) or "")


def test_moments_from_1990_to_one_day_ahead() -> None:
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert moment_problem(datetime(1990, 1, 1, tzinfo=UTC), now) is None
    assert moment_problem(now + timedelta(hours=23), now) is None
    assert moment_problem(datetime(2026, 6, 1, 12), now) is None  # naive: taken as UTC
    for bad in (datetime(1989, 12, 31, 23, 59, tzinfo=UTC), now + timedelta(days=2),
                datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))):
        assert "1990-01-01" in (moment_problem(bad, now) or ""), bad


def test_integers_within_bigint() -> None:
    assert int_problem(2**63 - 1) is None and int_problem(-(2**63)) is None
    assert "9223372036854775807" in (int_problem(2**63) or "")


def test_json_problems_name_each_field_in_the_bodys_order_however_deep() -> None:
    body = json.loads('{"a": [1, {"b": "x\\u0000"}], "c": 1e400, "d": 99999999999999999999,'
                      ' "ok": true, "k\\u0001": 2}')
    assert [where for where, _ in json_problems(body)] == ["k\x01", "a.1.b", "c", "d"]
    deep = json.loads("[" * 500 + '"\\u0000"' + "]" * 500)
    assert [where for where, _ in json_problems(deep)] == [".".join(["0"] * 500)]


def test_megapixels() -> None:
    assert megapixels_problem(8000, 5000, 40) is None
    assert "over the limit of 40 megapixels" in (megapixels_problem(8000, 5001, 40) or "")

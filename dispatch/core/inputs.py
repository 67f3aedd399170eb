"""The input policy: what every surface refuses before anything is stored.

One set of rules for JSON bodies, forms, query strings, paths, Open311 and the hotline:

- text: no C0 control character (tab, LF and CR aside), no DEL, no lone surrogate.
  PostgreSQL cannot store NUL in text or JSONB, and a lone surrogate cannot be encoded.
- integers: within PostgreSQL's ``bigint`` (every id is one).
- numbers: finite (``NaN`` and ``Infinity`` are refused).
- moments: from ``EARLIEST`` to one day from now; a psycopg read of a year-1 timestamp
  fails, so an absurd date would make the row unreadable.
- images: at most ``DEFAULT_MAX_MEGAPIXELS`` (checked from the header, before decoding).

Each check raises ``InvalidField`` naming the field and the rule; pydantic models use the
annotated types (``SafeText``, ``EventMoment``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator

from agents.text import control_char
from dispatch.core.errors import InvalidField
from dispatch.i18n import explain

MAX_BIGINT = 2**63 - 1
MIN_BIGINT = -(2**63)
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST_AHEAD = timedelta(days=1)
DEFAULT_MAX_MEGAPIXELS = 40.0


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    index = control_char(value)
    if index is not None:
        return explain.CONTROL_CHARACTER(code=f"U+{ord(value[index]):04X}", position=index)
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        return explain.LONE_SURROGATE(position=exc.start)
    return None


def check_text(field: str, value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise InvalidField(field, problem)
    return value


def _safe_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


SafeText = Annotated[str, AfterValidator(_safe_text)]
"""A ``str`` field that refuses control characters and lone surrogates (a 422 naming it)."""


def moment_problem(value: datetime, now: datetime | None = None) -> str | None:
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    latest = (now or datetime.now(UTC)) + LATEST_AHEAD
    try:
        if EARLIEST <= moment <= latest:
            return None
    except OverflowError:  # 0001-01-01T00:00+14:00 cannot even be put in UTC
        pass
    return (f"must be a date-time from {EARLIEST.date().isoformat()} to one day from now "
            f"(not in the future); got {value.isoformat()}")


def _event_moment(value: datetime) -> datetime:
    problem = moment_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


EventMoment = Annotated[datetime, AfterValidator(_event_moment)]
"""When something happened: 1990 to one day from now; a naive time is taken as UTC."""


def int_problem(value: int) -> str | None:
    if MIN_BIGINT <= value <= MAX_BIGINT:
        return None
    return f"must be an integer from {MIN_BIGINT} to {MAX_BIGINT}"


def looks_like_int(raw: str) -> bool:
    digits = raw[1:] if raw[:1] in "+-" else raw
    return digits.isascii() and digits.isdigit()


def _value_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int_problem(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    return None


def json_problems(body: Any) -> list[tuple[str, str]]:
    """(field path, problem) for every value of a parsed JSON body that breaks the policy.
    Walked with a stack of its own: however deep the nesting, no RecursionError."""
    problems: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            children = []
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if (problem := text_problem(str(key))) is not None:
                    problems.append((where, f"the field name {problem}"))
                children.append((where, item))
            stack.extend(reversed(children))  # in the body's order
        elif isinstance(value, list):
            stack.extend(reversed([(f"{path}.{i}" if path else str(i), item)
                                   for i, item in enumerate(value)]))
        elif (problem := _value_problem(value)) is not None:
            problems.append((path, problem))
    return problems


def megapixels_problem(width: int, height: int, max_megapixels: float) -> str | None:
    if width * height <= max_megapixels * 1_000_000:
        return None
    return (f"image of {width}x{height} pixels ({width * height / 1e6:.1f} megapixels) is over "
            f"the limit of {max_megapixels:g} megapixels")

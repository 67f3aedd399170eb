"""Cell values of a history file → typed fields: text, coordinates and dates.

Each reader raises ``BadValue("<column>", "<problem>")``; the caller turns it into a bad row.
Dates: ISO 8601 (with or without a zone, 'T' or space, a trailing "UTC"), MM/DD/YYYY with a
12- or 24-hour time, YYYY/MM/DD with a time, Unix seconds or milliseconds, datetime cells;
or only an explicit strptime format when one is given. Results are aware and in UTC (UTC is
assumed when the value names no zone).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_UTC_SUFFIX = re.compile(r"\s*(UTC|GMT)$", re.IGNORECASE)
_DATE_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d",
)  # fmt: skip
_DATES_TRIED = (
    "ISO 8601, MM/DD/YYYY hh:mm[:ss] AM, MM/DD/YYYY HH:MM[:SS], MM/DD/YYYY, "
    "YYYY/MM/DD HH:MM[:SS], YYYY/MM/DD, Unix time"
)
# Plausible Unix times: seconds from 1973 to 2286, or milliseconds from 1973 to 2286.
_UNIX_SECONDS = (1e8, 1e10)
_UNIX_MILLISECONDS = (1e11, 1e13)


class BadValue(Exception):
    def __init__(self, column: str, problem: str) -> None:
        super().__init__(f"{column}: {problem}")


def read_text(column: str, value: object) -> str | None:
    """Stripped text, None when empty; a whole-number float (a spreadsheet id) loses its ".0"."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if _CONTROL.search(text):
        raise BadValue(column, "contains a control character")
    return text or None


def read_coordinate(column: str, value: object, limit: float) -> float | None:
    """A finite number within ±limit, None when empty."""
    raw = "" if value is None else str(value).strip()
    if not raw:
        return None
    try:
        number = float(raw)
    except ValueError:
        raise BadValue(column, f"{raw!r} is not a number") from None
    if not math.isfinite(number):
        raise BadValue(column, f"{raw!r} is not a number")
    if abs(number) > limit:
        raise BadValue(column, f"{raw} is outside -{limit:g}..{limit:g}")
    return number


def read_datetime(column: str, value: object, date_format: str | None) -> datetime | None:
    """An aware UTC datetime, None when empty; ``date_format`` (strptime) replaces the guesses."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raw = str(value).strip()
    if date_format is not None:
        try:
            return _utc(datetime.strptime(raw, date_format))
        except ValueError:
            raise BadValue(column, f"{raw!r} does not match the date format {date_format!r}") from None
    parsed = _parse_date(raw, unix=isinstance(value, int | float) and not isinstance(value, bool))
    if parsed is None:
        raise BadValue(column, f"{raw!r} is not a date (tried {_DATES_TRIED})")
    return parsed


def _parse_date(raw: str, *, unix: bool) -> datetime | None:
    if not unix:
        try:
            return _utc(datetime.fromisoformat(_UTC_SUFFIX.sub("+00:00", raw)))
        except ValueError:
            pass
        for pattern in _DATE_FORMATS:
            try:
                return _utc(datetime.strptime(raw, pattern))
            except ValueError:
                continue
    if _NUMBER.fullmatch(raw):
        return _unix_time(float(raw))
    return None


def _unix_time(number: float) -> datetime | None:
    if _UNIX_MILLISECONDS[0] <= number < _UNIX_MILLISECONDS[1]:
        number /= 1000
    elif not _UNIX_SECONDS[0] <= number < _UNIX_SECONDS[1]:
        return None
    return datetime.fromtimestamp(number, tz=UTC)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

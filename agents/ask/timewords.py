"""Time words in English and Chinese → a window on when tickets came in.

Calendar words (today, yesterday, this/last week, this/last month, this year, since Monday)
are whole days in the city's time zone; weeks start on Monday. Counted words ("in the last
7 days", "最近3天", "past 24 hours") run back from now; "older than N days" / "超过N天" ends
N days before now. "The last month" counted is 30 days; "last month" alone is the calendar
month before this one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from agents.ask.scan import NUMBER, Scan, number

UNIT_DAYS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}
MAX_DAYS_BACK = 36_500
"""Counted words reach back at most a hundred years ("in the last 99999 years" included)."""
YEARS = range(1900, 3000)
"""Dates a question may name ("since 2024-05-02"); others are not understood."""
_EN_UNIT = r"(?P<unit>hour|day|week|month|year)s?"
_ZH_UNIT = r"(?P<unit>小时|个小时|钟头|天|日|周|个星期|星期|个礼拜|礼拜|个月|月|年)"
_ZH_UNITS = {"小时": "hour", "个小时": "hour", "钟头": "hour", "天": "day", "日": "day",
             "周": "week", "个星期": "week", "星期": "week", "个礼拜": "week", "礼拜": "week",
             "个月": "month", "月": "month", "年": "year"}
_EN_WEEKDAYS = {"monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2,
                "wed": 2, "thursday": 3, "thu": 3, "thurs": 3, "friday": 4, "fri": 4,
                "saturday": 5, "sat": 5, "sunday": 6, "sun": 6}
_ZH_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
_N = f"(?P<n>{NUMBER})"
_B = r"(?<![a-z0-9])"  # an English word starts here
_E = r"(?![a-z0-9])"


@dataclass(frozen=True)
class Window:
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Clock:
    """Now, in the city's time zone, and the day arithmetic every rule shares."""

    now: datetime
    zone: ZoneInfo

    @classmethod
    def at(cls, now: datetime, timezone: str) -> Clock:
        zone = ZoneInfo(timezone)
        return cls(now=now.astimezone(zone), zone=zone)

    def midnight(self, day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=self.zone)

    @property
    def today(self) -> date:
        return self.now.date()

    def monday(self, weeks_back: int = 0) -> datetime:
        return self.midnight(self.today - timedelta(days=self.today.weekday() + 7 * weeks_back))

    def month_start(self, months_back: int = 0) -> datetime:
        year, month = self.today.year, self.today.month - months_back
        while month < 1:
            year, month = year - 1, month + 12
        return self.midnight(date(year, month, 1))

    def back(self, amount: float, unit: str) -> datetime:
        return self.now - timedelta(days=min(amount * UNIT_DAYS[unit], MAX_DAYS_BACK))

    def since_weekday(self, weekday: int) -> datetime:
        """The most recent such day (today, when today is that day)."""
        return self.midnight(self.today - timedelta(days=(self.today.weekday() - weekday) % 7))


Rule = tuple[re.Pattern[str], Callable[[re.Match[str], Clock], Window | None]]


def _amount(match: re.Match[str]) -> tuple[float | None, str]:
    unit = match.group("unit")
    return number(match.groupdict().get("n") or "1"), _ZH_UNITS.get(unit, unit)


def _counted_back(match: re.Match[str], clock: Clock) -> Window | None:
    amount, unit = _amount(match)
    return Window(since=clock.back(amount, unit)) if amount else None


def _older_than(match: re.Match[str], clock: Clock) -> Window | None:
    amount, unit = _amount(match)
    return Window(until=clock.back(amount, unit)) if amount else None


def _iso_day(clock: Clock, text: str) -> datetime | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return clock.midnight(day) if day.year in YEARS else None


def _fixed(window: Callable[[Clock], Window]) -> Callable[[re.Match[str], Clock], Window]:
    return lambda _match, clock: window(clock)


def _day(days_back: int) -> Callable[[re.Match[str], Clock], Window]:
    return _fixed(lambda c: Window(since=c.midnight(c.today - timedelta(days=days_back)),
                                   until=c.midnight(c.today - timedelta(days=days_back - 1))
                                   if days_back else None))


def _compile(rules: list[tuple[str, Callable[[re.Match[str], Clock], Window | None]]]) -> list[Rule]:
    return [(re.compile(pattern), action) for pattern, action in rules]


# Order matters: the longer phrases come first and take their characters.
RULES: list[Rule] = _compile([
    # English, counted
    (_B + r"(?:(?:in|within|during|over|for) (?:the )?)?(?:last|past|previous) "
     + _N + " " + _EN_UNIT + _E, _counted_back),
    (_B + r"(?:in|within|during|over) (?:the )?(?:last|past) " + _EN_UNIT + _E, _counted_back),
    (_B + r"past " + _EN_UNIT + _E, _counted_back),
    (_B + r"within " + _N + " " + _EN_UNIT + _E, _counted_back),
    (_B + r"(?:older than|more than|over|at least|longer than) " + _N + " " + _EN_UNIT
     + r"(?: old| ago)?" + _E, _older_than),
    (_B + _N + r"\+? " + _EN_UNIT + r" (?:old|or more|or older)" + _E, _older_than),
    # English, calendar
    (_B + r"today" + _E, _day(0)),
    (_B + r"yesterday" + _E, _day(1)),
    (_B + r"(?:this|current) week" + _E, _fixed(lambda c: Window(since=c.monday()))),
    (_B + r"(?:last|previous) week" + _E,
     _fixed(lambda c: Window(since=c.monday(1), until=c.monday()))),
    (_B + r"(?:this|current) month" + _E, _fixed(lambda c: Window(since=c.month_start()))),
    (_B + r"(?:last|previous) month" + _E,
     _fixed(lambda c: Window(since=c.month_start(1), until=c.month_start()))),
    (_B + r"(?:this|current) year" + _E,
     _fixed(lambda c: Window(since=c.midnight(date(c.today.year, 1, 1))))),
    (_B + r"(?:since|from) (?:last )?(?P<wd>" + "|".join(_EN_WEEKDAYS) + r")" + _E,
     lambda m, c: Window(since=c.since_weekday(_EN_WEEKDAYS[m.group("wd")]))),
    (_B + r"(?:since|from|after) (?P<d>\d{4}-\d{2}-\d{2})" + _E,
     lambda m, c: Window(since=_iso_day(c, m.group("d")))),
    (_B + r"before (?P<d>\d{4}-\d{2}-\d{2})" + _E,
     lambda m, c: Window(until=_iso_day(c, m.group("d")))),
    # Chinese, counted
    (r"(?:最近|(?<!附)近|过去)" + _N + "?" + _ZH_UNIT + r"(?:内|以内|之内|里|来|中)?", _counted_back),
    (r"前" + _N + _ZH_UNIT, _counted_back),
    (_N + _ZH_UNIT + r"(?:内|以内|之内)", _counted_back),
    (r"(?:超过|大于|多于|已超|逾|超出)" + _N + _ZH_UNIT + r"(?:以上|之前|前)?", _older_than),
    (_N + _ZH_UNIT + r"(?:以上|之前|前)", _older_than),
    # Chinese, calendar
    (r"今天|今日", _day(0)),
    (r"昨天|昨日", _day(1)),
    (r"前天", _day(2)),
    (r"本周|这周|这一周|本星期|这星期|这个星期|这个礼拜|本礼拜",
     _fixed(lambda c: Window(since=c.monday()))),
    (r"上周|上一周|上星期|上个星期|上个礼拜|上礼拜",
     _fixed(lambda c: Window(since=c.monday(1), until=c.monday()))),
    (r"本月|这个月|这月|当月", _fixed(lambda c: Window(since=c.month_start()))),
    (r"上个月|上月", _fixed(lambda c: Window(since=c.month_start(1), until=c.month_start()))),
    (r"今年|本年", _fixed(lambda c: Window(since=c.midnight(date(c.today.year, 1, 1))))),
    (r"(?:自|从|自从)?(?:上)?(?:周|星期|礼拜)(?P<wd>[一二三四五六日天])(?:以来|起|开始|至今|到现在)",
     lambda m, c: Window(since=c.since_weekday(_ZH_WEEKDAYS[m.group("wd")]))),
])


def take_time(scan: Scan, clock: Clock) -> Window:
    """Every time phrase of the question, intersected: the latest ``since``, the earliest
    ``until``; their characters are taken."""
    since: datetime | None = None
    until: datetime | None = None
    for pattern, action in RULES:
        for match in scan.free_matches(pattern):
            window = action(match, clock)
            if window is None:
                continue
            if window.since is not None:
                since = window.since if since is None else max(since, window.since)
            if window.until is not None:
                until = window.until if until is None else min(until, window.until)
    return Window(since=since, until=until)

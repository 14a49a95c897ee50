"""The simulated world's calendar: Japanese business days, holidays and hours of the day.

A :class:`Calendar` turns a run of days in a time zone into cumulative weights of activity and
deal registrations (weekdays, weekends, national holidays, Obon, New Year, the March fiscal
year end), from which :func:`sample_days` draws days and :func:`time_of_day` draws local times.

Example:
    >>> import datetime as dt
    >>> cal = business_calendar(dt.date(2026, 1, 1), 31, "Asia/Tokyo")
    >>> cal.days, cal.n_periods
    (31, 1)
    >>> is_jp_holiday(dt.date(2026, 1, 12)), is_jp_holiday(dt.date(2026, 1, 13))  # Coming of Age Day
    (True, False)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

__all__ = ["DEAL_SEASON", "EPOCH_ORDINAL", "Calendar", "business_calendar", "is_jp_holiday",
           "sample_days", "time_of_day"]

#: monthly deal seasonality (Japanese fiscal year ends in March; August is quiet)
DEAL_SEASON = {1: 0.85, 2: 1.0, 3: 1.45, 4: 0.85, 5: 0.9, 6: 1.0, 7: 1.0, 8: 0.7, 9: 1.2,
               10: 0.95, 11: 1.0, 12: 1.1}
#: the proleptic Gregorian ordinal of 1970-01-01 (day 0 of Unix time)
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _nth_monday(year: int, month: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(7 - first.weekday()) % 7 + 7 * (n - 1))


def is_jp_holiday(day: dt.date) -> bool:
    """Approximate Japanese public holidays and the New Year closure."""
    md = (day.month, day.day)
    if md in {(1, 1), (1, 2), (1, 3), (2, 11), (2, 23), (3, 20), (4, 29), (5, 3), (5, 4),
              (5, 5), (8, 11), (9, 23), (11, 3), (11, 23), (12, 29), (12, 30), (12, 31)}:
        return True
    return day in {_nth_monday(day.year, 1, 2), _nth_monday(day.year, 7, 3),
                   _nth_monday(day.year, 9, 3), _nth_monday(day.year, 10, 2)}


@dataclass(frozen=True)
class Calendar:
    """Days ``[start, start + days)`` in a time zone; index ``days`` is the exclusive end.

    Attributes:
        start: the first day.
        days: the number of days.
        midnight: int64 UTC epoch seconds of each local midnight, length ``days + 1``.
        act_cum: cumulative activity weight (a weekday weighs 1), length ``days + 1``.
        deal_cum: cumulative deal weight (mean 1 per day, seasonal), length ``days + 1``.
        period_start: day index where each calendar month starts, then ``days``.
    """

    start: dt.date
    days: int
    midnight: NDArray[np.int64]
    act_cum: NDArray[np.float64]
    deal_cum: NDArray[np.float64]
    period_start: NDArray[np.int64]

    @property
    def n_periods(self) -> int:
        """The number of calendar months (or parts of months) the days cover."""
        return len(self.period_start) - 1


def business_calendar(start: dt.date, days: int, timezone: str) -> Calendar:
    """The calendar of days ``[start, start + days)`` in ``timezone`` (see :class:`Calendar`)."""
    tz = ZoneInfo(timezone)
    dates = [start + dt.timedelta(days=i) for i in range(days + 1)]
    midnight = np.empty(days + 1, dtype=np.int64)
    act = np.empty(days)
    deal = np.empty(days)
    periods = [0]
    for i, d in enumerate(dates):
        noon = dt.datetime(d.year, d.month, d.day, 12, tzinfo=tz)
        offset = noon.utcoffset() or dt.timedelta(0)
        midnight[i] = (d.toordinal() - EPOCH_ORDINAL) * 86400 - int(offset.total_seconds())
        if i == days:
            break
        if i > 0 and d.day == 1:
            periods.append(i)
        if is_jp_holiday(d):
            w = 0.08
        elif d.weekday() == 5:
            w = 0.10
        elif d.weekday() == 6:
            w = 0.05
        elif d.month == 8 and 13 <= d.day <= 16:
            w = 0.45
        else:
            w = 1.0
        act[i] = w
        deal[i] = w * DEAL_SEASON[d.month]
    periods.append(days)
    deal = deal / deal.mean()
    return Calendar(
        start=start, days=days, midnight=midnight,
        act_cum=np.concatenate([[0.0], np.cumsum(act)]),
        deal_cum=np.concatenate([[0.0], np.cumsum(deal)]),
        period_start=np.array(periods, dtype=np.int64),
    )


def sample_days(cum: NDArray[Any], lo: NDArray[Any], hi: NDArray[Any], u: NDArray[Any]) -> NDArray[Any]:
    """Days in ``[lo, hi)`` drawn with probability proportional to the calendar weights."""
    target = cum[lo] + u * (cum[hi] - cum[lo])
    day = np.searchsorted(cum, target, side="right") - 1
    clipped: NDArray[Any] = np.clip(day, lo, hi - 1)
    return clipped


def time_of_day(rng: np.random.Generator, n: int) -> NDArray[Any]:
    """Local seconds after midnight: a morning and an afternoon peak, a few late workers."""
    u = rng.random(n)
    z = rng.standard_normal(n)
    late = 7.0 + 16.0 * rng.random(n)
    hours = np.where(u < 0.45, 10.3 + 1.3 * z, np.where(u < 0.9, 15.0 + 1.8 * z, late))
    return (np.clip(hours, 6.0, 23.5) * 3600).astype(np.int64)


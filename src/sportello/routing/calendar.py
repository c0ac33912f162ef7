"""Business-hours calendars and SLA clocks (pure arithmetic, no database).

Semantics, chosen once and used everywhere:

* Weekly hours are wall-clock intervals in the calendar's time zone, given per weekday
  (0 = Monday ... 6 = Sunday).  Every interval is half-open, ``[start, end)``.  An ``end``
  of ``time(0)`` means midnight at the *end* of the day (24:00), so ``Interval(time(0),
  time(0))`` is a whole day and a 24/7 calendar is seven such days.  Intervals never cross
  midnight: a night shift is ``22:00-24:00`` on one day plus ``00:00-06:00`` on the next,
  and the two are joined seamlessly.
* Business time is real elapsed time.  On the night the clocks change a ``00:00-24:00`` day
  lasts 23 or 25 hours.  Each interval boundary is mapped to the earliest instant whose
  wall clock reads that time: inside the repeated autumn hour (02:00-02:59 happens twice)
  that is the first occurrence; a time inside the skipped spring hour maps to the instant
  of the change (03:00 CEST).  So every interval is one contiguous block of real time.
* A day is closed entirely when it is an Italian national holiday (``country_holidays``,
  from the ``holidays`` package), the patron-saint day of ``subdiv`` (a province code such
  as ``"MI"``, also from ``holidays``), the ``patron_day`` (month, day), or one of
  ``extra_holidays``.  ``closures`` are arbitrary ``[start, end)`` instant ranges (whole
  weeks, or a partial afternoon) removed from the open time.
* Every datetime argument must be timezone-aware (``ValueError`` otherwise).  Results are
  expressed in the time zone of the argument they derive from.
* Searches give up with :class:`CalendarError` after :data:`SEARCH_HORIZON_DAYS` days
  without any open time, so a calendar that is closed forever cannot hang a worker.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from holidays import country_holidays as _country_holidays
from holidays.countries.italy import Italy

__all__ = [
    "SEARCH_HORIZON_DAYS",
    "WEEKDAY_KEYS",
    "BusinessCalendar",
    "CalendarError",
    "Interval",
    "SlaClock",
    "holiday_name",
]

#: Searches (next open instant, due date) stop after this many days without open time.
SEARCH_HORIZON_DAYS: Final = 3 * 366
#: Weekday keys used by :meth:`BusinessCalendar.to_dict`, Monday first.
WEEKDAY_KEYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DAY_US: Final = 86_400 * 1_000_000
_ONE_US: Final = timedelta(microseconds=1)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_CACHED_DAYS: Final = 20_000
_PATRON_NAME: Final = "Festa del santo patrono"
_EXTRA_NAME: Final = "Chiusura"

# One cached day: (start_us, end_us, open intervals as ((start_us, end_us), ...), open_us).
_Day = tuple[int, int, tuple[tuple[int, int], ...], int]


class CalendarError(ValueError):
    """An invalid calendar or SLA configuration, or a search that found no open time."""


# --------------------------------------------------------------------------- helpers


def _to_us(at: datetime, name: str = "datetime") -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {at.isoformat()}")
    return (at - _EPOCH) // _ONE_US


def _from_us(us: int, tz: tzinfo | None) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(tz)


def _time_us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _format_time(t: time, *, is_end: bool = False) -> str:
    if is_end and t == time(0):
        return "24:00"
    if t.microsecond:
        return t.isoformat(timespec="microseconds")
    if t.second:
        return t.isoformat(timespec="seconds")
    return t.isoformat(timespec="minutes")


def _parse_time(value: Any, where: str, *, is_end: bool) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise CalendarError(f"{where}: expected a time string like '09:00', got {value!r}")
    if value in ("24:00", "24:00:00"):
        if not is_end:
            raise CalendarError(f"{where}: 24:00 is only valid as the end of an interval")
        return time(0)
    try:
        return time.fromisoformat(value)
    except ValueError as exc:
        raise CalendarError(f"{where}: invalid time {value!r}") from exc


def _subtract(
    intervals: list[tuple[int, int]], cuts: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Remove the (sorted, disjoint) ``cuts`` from sorted disjoint ``intervals``."""
    result: list[tuple[int, int]] = []
    for a, b in intervals:
        for ca, cb in cuts:
            if cb <= a or ca >= b:
                continue
            if ca > a:
                result.append((a, ca))
            a = max(a, cb)
            if a >= b:
                break
        if a < b:
            result.append((a, b))
    return result


def _merge(intervals: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort and join overlapping or touching intervals, dropping empty ones."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


@lru_cache(maxsize=512)
def _italian_holidays(year: int, subdiv: str | None) -> Mapping[date, str]:
    """Italian public holidays of one year with Italian names (national + ``subdiv``)."""
    return dict(_country_holidays("IT", subdiv=subdiv, years=year, language="it_IT").items())


@lru_cache(maxsize=512)
def _subdiv_only_holidays(year: int, subdiv: str) -> frozenset[date]:
    national = _italian_holidays(year, None)
    return frozenset(d for d in _italian_holidays(year, subdiv) if d not in national)


def _normalize_subdiv(subdiv: str) -> str:
    code = Italy.subdivisions_aliases.get(subdiv, subdiv).upper()
    if code not in Italy.subdivisions:
        raise CalendarError(
            f"unknown Italian subdivision {subdiv!r}: use a province code such as 'MI' or 'RM'"
        )
    return code


def _check_patron_day(patron_day: tuple[int, int] | None) -> tuple[int, int] | None:
    if patron_day is None:
        return None
    try:
        month, day = patron_day
        date(2000, month, day)  # leap year, so 29 February is accepted
    except (TypeError, ValueError) as exc:
        raise CalendarError(f"patron_day must be a (month, day) pair, got {patron_day!r}") from exc
    return (month, day)


def _patron_date(year: int, patron_day: tuple[int, int]) -> date | None:
    try:
        return date(year, *patron_day)
    except ValueError:  # 29 February in a common year
        return None


def holiday_name(
    day: date, *, patron_day: tuple[int, int] | None = None, subdiv: str | None = None
) -> str | None:
    """Italian name of the public holiday on ``day``, or ``None`` on a working day.

    National holidays come from the ``holidays`` package; ``subdiv`` (province code such as
    ``"MI"``) adds that city's patron saint by name, ``patron_day`` adds a (month, day) as
    "Festa del santo patrono".
    """
    if isinstance(day, datetime):
        raise TypeError("holiday_name() takes a date, not a datetime")
    code = _normalize_subdiv(subdiv) if subdiv is not None else None
    patron = _check_patron_day(patron_day)
    name = _italian_holidays(day.year, code).get(day)
    if name is None and patron is not None and _patron_date(day.year, patron) == day:
        name = _PATRON_NAME
    return name


# --------------------------------------------------------------------------- interval


@dataclass(frozen=True, slots=True)
class Interval:
    """Daily opening interval ``[start, end)`` in wall-clock time; ``end == time(0)`` is 24:00."""

    start: time
    end: time

    def __post_init__(self) -> None:
        for t in (self.start, self.end):
            if not isinstance(t, time):
                raise CalendarError(f"interval bounds must be datetime.time, got {t!r}")
            if t.tzinfo is not None:
                raise CalendarError("interval bounds must be naive wall-clock times")
        if self.end_us <= self.start_us:
            raise CalendarError(
                f"interval {self}: end must be after start (use 24:00 / time(0) for midnight)"
            )

    @property
    def start_us(self) -> int:
        """Start as microseconds after midnight."""
        return _time_us(self.start)

    @property
    def end_us(self) -> int:
        """End as microseconds after midnight (a full day for ``time(0)``)."""
        return _DAY_US if self.end == time(0) else _time_us(self.end)

    def __str__(self) -> str:
        return f"{_format_time(self.start)}-{_format_time(self.end, is_end=True)}"


# --------------------------------------------------------------------------- calendar


class BusinessCalendar:
    """Weekly opening hours minus holidays and closures, in one time zone."""

    def __init__(
        self,
        *,
        weekly: Mapping[int, Sequence[tuple[time, time] | Interval]],
        tz: str = "Europe/Rome",
        country_holidays: bool = True,
        subdiv: str | None = None,
        patron_day: tuple[int, int] | None = None,
        closures: Sequence[tuple[datetime, datetime]] = (),
        extra_holidays: Sequence[date] = (),
    ) -> None:
        try:
            self._tz = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise CalendarError(f"unknown time zone {tz!r}") from exc
        self._tz_name = tz

        days: list[tuple[Interval, ...]] = [() for _ in range(7)]
        for weekday, raw in weekly.items():
            if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
                raise CalendarError(
                    f"weekday must be an int 0 (Monday) .. 6 (Sunday), got {weekday!r}"
                )
            intervals = sorted((_as_interval(i) for i in raw), key=lambda i: i.start_us)
            for prev, cur in itertools.pairwise(intervals):
                if cur.start_us < prev.end_us:
                    raise CalendarError(
                        f"{WEEKDAY_KEYS[weekday]}: intervals {prev} and {cur} overlap"
                    )
            days[weekday] = tuple(intervals)
        if not any(days):
            raise CalendarError("calendar has no open hours: every weekday is closed")
        self._weekly = tuple(days)
        self._weekly_us = tuple(
            tuple(_merge([(i.start_us, i.end_us) for i in day])) for day in days
        )

        self._country_holidays = bool(country_holidays)
        self._subdiv = _normalize_subdiv(subdiv) if subdiv is not None else None
        self._patron_day = _check_patron_day(patron_day)

        extra: set[date] = set()
        for d in extra_holidays:
            if isinstance(d, datetime) or not isinstance(d, date):
                raise CalendarError(f"extra_holidays must contain dates, got {d!r}")
            extra.add(d)
        self._extra_holidays = frozenset(extra)

        spans: list[tuple[int, int]] = []
        kept: list[tuple[datetime, datetime]] = []
        for pair in closures:
            c_start, c_end = pair
            a, b = _to_us(c_start, "closure start"), _to_us(c_end, "closure end")
            if b <= a:
                raise CalendarError(
                    f"closure {c_start.isoformat()} .. {c_end.isoformat()}: end <= start"
                )
            spans.append((a, b))
            kept.append((c_start.astimezone(self._tz), c_end.astimezone(self._tz)))
        self._closures = tuple(sorted(kept))
        merged = _merge(spans)
        self._closure_us = tuple(merged)
        self._closure_ends = [b for _, b in merged]

        self._year_holidays: dict[int, frozenset[date]] = {}
        self._days: dict[int, _Day] = {}
        self._weeks: dict[int, int] = {}

    # ---------------------------------------------------------------- construction

    @classmethod
    def always_open(cls, tz: str = "Europe/Rome") -> BusinessCalendar:
        """A 24/7 calendar without holidays (business time equals real time)."""
        whole_day = [(time(0), time(0))]
        return cls(weekly=dict.fromkeys(range(7), whole_day), tz=tz, country_holidays=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BusinessCalendar:
        """Build from the JSON-able form produced by :meth:`to_dict`.

        ``weekly`` keys are ``"mon"`` .. ``"sun"`` (or ``0`` .. ``6``), values lists of
        ``["09:00", "13:00"]``; ``"24:00"`` closes at midnight.  ``closures`` items are
        ``{"start": ..., "end": ...}``: ISO datetimes (naive ones are read in ``tz``) or plain
        dates, where a date end is inclusive (the whole day is closed).
        """
        if not isinstance(data, Mapping):
            raise CalendarError("calendar config must be a mapping")
        unknown = set(data) - {
            "version", "tz", "weekly", "country_holidays", "subdiv", "patron_day",
            "closures", "extra_holidays",
        }  # fmt: skip
        if unknown:
            raise CalendarError(f"unknown calendar config keys: {sorted(unknown)}")
        tz_name = data.get("tz", "Europe/Rome")
        if not isinstance(tz_name, str):
            raise CalendarError(f"tz must be a string, got {tz_name!r}")
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(f"unknown time zone {tz_name!r}") from exc

        raw_weekly = data.get("weekly")
        if not isinstance(raw_weekly, Mapping):
            raise CalendarError("weekly must be a mapping of weekday -> list of [start, end]")
        weekly: dict[int, list[tuple[time, time]]] = {}
        for key, raw in raw_weekly.items():
            weekday = _parse_weekday(key)
            if not isinstance(raw, Sequence) or isinstance(raw, str):
                raise CalendarError(f"weekly.{key}: expected a list of [start, end] pairs")
            pairs: list[tuple[time, time]] = []
            for n, item in enumerate(raw):
                where = f"weekly.{key}[{n}]"
                if isinstance(item, Mapping):
                    item = (item.get("start"), item.get("end"))
                if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
                    raise CalendarError(f"{where}: expected [start, end], got {item!r}")
                pairs.append(
                    (
                        _parse_time(item[0], where, is_end=False),
                        _parse_time(item[1], where, is_end=True),
                    )
                )
            if weekday in weekly:
                raise CalendarError(f"weekly.{key}: weekday given twice")
            weekly[weekday] = pairs

        country = data.get("country_holidays", True)
        if not isinstance(country, bool):
            raise CalendarError(f"country_holidays must be true or false, got {country!r}")
        subdiv = data.get("subdiv")
        if subdiv is not None and not isinstance(subdiv, str):
            raise CalendarError(f"subdiv must be a province code string, got {subdiv!r}")

        patron_raw = data.get("patron_day")
        patron: tuple[int, int] | None = None
        if isinstance(patron_raw, str):
            try:
                month_s, day_s = patron_raw.split("-")
                patron = (int(month_s), int(day_s))
            except ValueError as exc:
                raise CalendarError(f"patron_day must be 'MM-DD', got {patron_raw!r}") from exc
        elif patron_raw is not None:
            if not isinstance(patron_raw, Sequence) or len(patron_raw) != 2:
                raise CalendarError(f"patron_day must be [month, day], got {patron_raw!r}")
            patron = (patron_raw[0], patron_raw[1])

        closures: list[tuple[datetime, datetime]] = []
        for n, item in enumerate(data.get("closures") or ()):
            where = f"closures[{n}]"
            if isinstance(item, Mapping):
                item = (item.get("start"), item.get("end"))
            if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
                raise CalendarError(f"{where}: expected {{'start': ..., 'end': ...}}")
            closures.append(
                (
                    _parse_instant(item[0], tz, where, is_end=False),
                    _parse_instant(item[1], tz, where, is_end=True),
                )
            )

        extra: list[date] = []
        for n, item in enumerate(data.get("extra_holidays") or ()):
            try:
                extra.append(date.fromisoformat(item))
            except (TypeError, ValueError) as exc:
                raise CalendarError(f"extra_holidays[{n}]: invalid date {item!r}") from exc

        return cls(
            weekly=weekly,
            tz=tz_name,
            country_holidays=country,
            subdiv=subdiv,
            patron_day=patron,
            closures=closures,
            extra_holidays=extra,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able configuration; ``from_dict(cal.to_dict()) == cal``."""
        return {
            "version": 1,
            "tz": self._tz_name,
            "weekly": {
                WEEKDAY_KEYS[wd]: [
                    [_format_time(i.start), _format_time(i.end, is_end=True)] for i in day
                ]
                for wd, day in enumerate(self._weekly)
            },
            "country_holidays": self._country_holidays,
            "subdiv": self._subdiv,
            "patron_day": list(self._patron_day) if self._patron_day else None,
            "closures": [{"start": a.isoformat(), "end": b.isoformat()} for a, b in self._closures],
            "extra_holidays": sorted(d.isoformat() for d in self._extra_holidays),
        }

    def _key(self) -> tuple[Any, ...]:
        return (
            self._tz_name,
            self._weekly_us,
            self._country_holidays,
            self._subdiv,
            self._patron_day,
            self._closure_us,
            self._extra_holidays,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        week = ", ".join(
            f"{WEEKDAY_KEYS[wd]} {' '.join(map(str, day))}"
            for wd, day in enumerate(self._weekly)
            if day
        )
        return f"BusinessCalendar({self._tz_name}: {week})"

    # ---------------------------------------------------------------- properties

    @property
    def tz(self) -> ZoneInfo:
        """The calendar's time zone."""
        return self._tz

    @property
    def weekly(self) -> tuple[tuple[Interval, ...], ...]:
        """Opening intervals per weekday, Monday first."""
        return self._weekly

    @property
    def closures(self) -> tuple[tuple[datetime, datetime], ...]:
        """The closures as given (not merged), ``[start, end)`` in the calendar's zone."""
        return self._closures

    def holidays(self, year: int) -> list[tuple[date, str]]:
        """Every whole day closed in ``year`` with its Italian name, in date order."""
        return [(d, self.holiday_name(d) or _EXTRA_NAME) for d in sorted(self._holidays_of(year))]

    def is_holiday(self, day: date) -> bool:
        """Whether ``day`` is closed as a whole (holiday, patron day or extra holiday)."""
        return day in self._holidays_of(day.year)

    def holiday_name(self, day: date) -> str | None:
        """Italian name of the holiday closing ``day`` for this calendar, if any."""
        if day in self._extra_holidays:
            return _EXTRA_NAME
        if not self.is_holiday(day):
            return None
        name = _italian_holidays(day.year, self._subdiv).get(day)
        if name is not None and (
            self._country_holidays or day not in _italian_holidays(day.year, None)
        ):
            return name
        return _PATRON_NAME

    # ---------------------------------------------------------------- queries

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` lies inside open time."""
        u = _to_us(at, "at")
        _, day = self._locate(u, at)
        return any(a <= u < b for a, b in day[2])

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself if open, otherwise the next instant the calendar opens."""
        u = _to_us(at, "at")
        o, day = self._locate(u, at)
        first = o
        while True:
            for a, b in day[2]:
                if b > u:
                    return at if a <= u else _from_us(a, at.tzinfo)
            o += 1
            if o - first > SEARCH_HORIZON_DAYS:
                raise CalendarError(
                    f"no open time within {SEARCH_HORIZON_DAYS} days after {at.isoformat()}"
                )
            day = self._day(o)

    def next_close(self, at: datetime) -> datetime:
        """``at`` itself if closed, otherwise the instant the current open stretch ends.

        Open intervals that touch (24:00 followed by 00:00) count as one stretch, so a 24/7
        calendar without holidays never closes and raises :class:`CalendarError`.
        """
        u = _to_us(at, "at")
        o, day = self._locate(u, at)
        end: int | None = None
        for a, b in day[2]:
            if a <= u < b:
                end = b
                break
        if end is None:
            return at
        limit = u + SEARCH_HORIZON_DAYS * _DAY_US
        while end == day[1]:  # open until midnight: maybe continues tomorrow
            o += 1
            day = self._day(o)
            if not day[2] or day[2][0][0] != end:
                break
            end = day[2][0][1]
            if end > limit:
                raise CalendarError(
                    f"calendar does not close within {SEARCH_HORIZON_DAYS} days after "
                    f"{at.isoformat()}"
                )
        return _from_us(end, at.tzinfo)

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """Due date: the earliest instant by which ``duration`` of open time has elapsed.

        A zero duration returns ``start``.  A result at the end of an interval is the
        closing instant itself (e.g. 18:00), which is not open.
        """
        s = _to_us(start, "start")
        need = duration // _ONE_US
        if need < 0:
            raise CalendarError(f"duration must not be negative, got {duration}")
        if need == 0:
            return start
        o, day = self._locate(s, start)
        # First, partial day.
        for a, b in day[2]:
            if b <= s:
                continue
            a = max(a, s)
            if b - a >= need:
                return _from_us(a + need, start.tzinfo)
            need -= b - a
        last_open = o
        days = self._days
        while True:
            o += 1
            if o % 7 == 1:  # Monday: skip whole weeks while they do not finish the job
                while True:
                    week = self._weeks.get(o)
                    if week is None:
                        week = self._week(o)
                    if week >= need:
                        break
                    if week:
                        need -= week
                        last_open = o + 6
                    elif o + 6 - last_open > SEARCH_HORIZON_DAYS:
                        self._no_open_time(start)
                    o += 7
            day = days.get(o) or self._day(o)
            total = day[3]
            if not total:
                if o - last_open > SEARCH_HORIZON_DAYS:
                    self._no_open_time(start)
                continue
            last_open = o
            if total < need:
                need -= total
                continue
            for a, b in day[2]:
                if b - a >= need:
                    return _from_us(a + need, start.tzinfo)
                need -= b - a
            raise AssertionError("unreachable: day total covers the remaining need")

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Open time in ``[start, end)``; negative when ``end`` is before ``start``."""
        s, e = _to_us(start, "start"), _to_us(end, "end")
        if e < s:
            return -self.business_time_between(end, start)
        o, day = self._locate(s, start)
        total = 0
        days = self._days
        while day[0] < e:
            if day[0] >= s and o % 7 == 1:  # Monday: take whole weeks at once
                while True:
                    next_week = days.get(o + 7) or self._day(o + 7)
                    if next_week[0] > e:
                        break
                    week = self._weeks.get(o)
                    total += self._week(o) if week is None else week
                    o += 7
                    day = next_week
                if day[0] >= e:
                    break
            if day[0] >= s and day[1] <= e:
                total += day[3]
            else:
                for a, b in day[2]:
                    a, b = max(a, s), min(b, e)
                    if b > a:
                        total += b - a
            o += 1
            day = days.get(o) or self._day(o)
        return timedelta(microseconds=total)

    def open_intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open stretches within ``[start, end)``, clipped, touching ones joined."""
        s, e = _to_us(start, "start"), _to_us(end, "end")
        if e <= s:
            return
        tz = start.tzinfo
        o, day = self._locate(s, start)
        pending: tuple[int, int] | None = None
        while day[0] < e:
            for a, b in day[2]:
                a, b = max(a, s), min(b, e)
                if b <= a:
                    continue
                if pending is not None and pending[1] == a:
                    pending = (pending[0], b)
                    continue
                if pending is not None:
                    yield _from_us(pending[0], tz), _from_us(pending[1], tz)
                pending = (a, b)
            o += 1
            day = self._day(o)
        if pending is not None:
            yield _from_us(pending[0], tz), _from_us(pending[1], tz)

    # ---------------------------------------------------------------- internals

    def _no_open_time(self, start: datetime) -> None:
        raise CalendarError(
            f"no open time within {SEARCH_HORIZON_DAYS} days after {start.isoformat()}: "
            "check weekly hours, holidays and closures"
        )

    def _holidays_of(self, year: int) -> frozenset[date]:
        cached = self._year_holidays.get(year)
        if cached is not None:
            return cached
        found = {d for d in self._extra_holidays if d.year == year}
        if self._country_holidays:
            found.update(_italian_holidays(year, None))
        if self._subdiv is not None:
            found.update(_subdiv_only_holidays(year, self._subdiv))
        if self._patron_day is not None:
            patron = _patron_date(year, self._patron_day)
            if patron is not None:
                found.add(patron)
        result = frozenset(found)
        self._year_holidays[year] = result
        return result

    def _wall_us(self, day: date, offset_us: int) -> int:
        """Earliest instant (epoch µs) whose wall clock reads ``day`` + ``offset_us``."""
        naive = datetime.combine(day, time()) + timedelta(microseconds=offset_us)
        u = _to_us(naive.replace(tzinfo=self._tz))  # fold=0: first of a repeated time
        if _from_us(u, self._tz).replace(tzinfo=None) == naive:
            return u
        # The wall time falls in a gap (clocks jumped forward): find the jump instant.
        other = _to_us(naive.replace(tzinfo=self._tz, fold=1))
        lo, hi = min(u, other) // 1_000_000, -(-max(u, other) // 1_000_000)
        after = _from_us(hi * 1_000_000, self._tz).utcoffset()
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _from_us(mid * 1_000_000, self._tz).utcoffset() == after:
                hi = mid
            else:
                lo = mid
        return hi * 1_000_000

    def _day(self, ordinal: int) -> _Day:
        cached = self._days.get(ordinal)
        if cached is not None:
            return cached
        if len(self._days) >= _MAX_CACHED_DAYS:
            self._days.clear()
            self._weeks.clear()
        d = date.fromordinal(ordinal)
        start = self._wall_us(d, 0)
        end = self._wall_us(d + timedelta(days=1), 0)
        weekly = self._weekly_us[d.weekday()]
        spans: list[tuple[int, int]] = []
        if weekly and d not in self._holidays_of(d.year):
            if end - start == _DAY_US:  # no clock change today: plain offsets
                spans = [(start + a, start + b) for a, b in weekly]
            else:
                spans = _merge(
                    [
                        (
                            self._wall_us(d, a),
                            end if b == _DAY_US else self._wall_us(d, b),
                        )
                        for a, b in weekly
                    ]
                )
            if self._closure_us and spans:
                i = bisect.bisect_right(self._closure_ends, start)
                cuts = []
                while i < len(self._closure_us) and self._closure_us[i][0] < end:
                    cuts.append(self._closure_us[i])
                    i += 1
                if cuts:
                    spans = _subtract(spans, cuts)
        result: _Day = (start, end, tuple(spans), sum(b - a for a, b in spans))
        self._days[ordinal] = result
        return result

    def _week(self, monday: int) -> int:
        total = sum(self._day(monday + i)[3] for i in range(7))
        self._weeks[monday] = total
        return total

    def _locate(self, u: int, at: datetime) -> tuple[int, _Day]:
        """Local day (ordinal and cached data) containing instant ``u``."""
        o = at.astimezone(self._tz).toordinal()
        day = self._days.get(o) or self._day(o)
        # Only differs from the wall-clock date around a midnight clock change.
        while u < day[0]:
            o -= 1
            day = self._day(o)
        while u >= day[1]:
            o += 1
            day = self._day(o)
        return o, day


def _as_interval(value: tuple[time, time] | Interval) -> Interval:
    if isinstance(value, Interval):
        return value
    try:
        start, end = value
    except (TypeError, ValueError) as exc:
        raise CalendarError(f"expected a (start, end) pair of times, got {value!r}") from exc
    return Interval(start, end)


def _parse_weekday(key: Any) -> int:
    if isinstance(key, str):
        lowered = key.strip().lower()
        if lowered in WEEKDAY_KEYS:
            return WEEKDAY_KEYS.index(lowered)
        if lowered.isdigit():
            key = int(lowered)
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key <= 6:
        return key
    raise CalendarError(f"weekly: unknown weekday {key!r}; use 'mon'..'sun' or 0..6")


def _parse_instant(value: Any, tz: ZoneInfo, where: str, *, is_end: bool) -> datetime:
    if not isinstance(value, str):
        raise CalendarError(f"{where}: expected an ISO date or datetime string, got {value!r}")
    try:
        if len(value) == 10:  # plain date: whole day, end inclusive
            d = date.fromisoformat(value)
            if is_end:
                d += timedelta(days=1)
            return datetime.combine(d, time(), tzinfo=tz)
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CalendarError(f"{where}: invalid date/datetime {value!r}") from exc
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


# --------------------------------------------------------------------------- SLA clock


def _seconds(value: timedelta) -> int | float:
    us = value // _ONE_US
    return us // 1_000_000 if us % 1_000_000 == 0 else us / 1_000_000


def _parse_seconds(data: Mapping[str, Any], key: str) -> timedelta:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalendarError(f"{key} must be a number of seconds, got {value!r}")
    return timedelta(seconds=value)


def _parse_aware(data: Mapping[str, Any], key: str, *, required: bool) -> datetime | None:
    value = data.get(key)
    if value is None:
        if required:
            raise CalendarError(f"{key} is required")
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise CalendarError(f"{key}: invalid datetime {value!r}") from exc
    if parsed.tzinfo is None:
        raise CalendarError(f"{key} must carry a UTC offset, got {value!r}")
    return parsed


@dataclass
class SlaClock:
    """An SLA clock that runs in business time and can be paused and resumed.

    ``elapsed_before_pause`` is the business time accumulated by finished running
    segments; the current segment started at ``running_since`` (``started_at`` when
    ``None``).  ``target_reached_at`` records when the target was reached if that happened
    in a segment that has since been paused.  Pausing an already paused clock, or resuming
    a running one, does nothing.  Queries describe the current state: ``elapsed(at)`` while
    paused is the time accumulated up to the pause, whatever ``at`` is.
    """

    target: timedelta
    calendar: BusinessCalendar
    started_at: datetime
    paused_at: datetime | None = None
    elapsed_before_pause: timedelta = timedelta(0)
    running_since: datetime | None = None
    target_reached_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.target <= timedelta(0):
            raise CalendarError(f"SLA target must be positive, got {self.target}")
        if self.elapsed_before_pause < timedelta(0):
            raise CalendarError("elapsed_before_pause must not be negative")
        for name in ("started_at", "paused_at", "running_since", "target_reached_at"):
            value = getattr(self, name)
            if value is not None:
                _to_us(value, name)

    @property
    def is_paused(self) -> bool:
        """Whether the clock is currently paused (e.g. pending on the customer)."""
        return self.paused_at is not None

    @property
    def _segment_start(self) -> datetime:
        return self.started_at if self.running_since is None else self.running_since

    def pause(self, at: datetime) -> None:
        """Stop the clock at ``at``; no-op when already paused."""
        _to_us(at, "at")
        if self.paused_at is not None:
            return
        seg = self._segment_start
        if at < seg:
            raise ValueError(f"cannot pause at {at.isoformat()}, before {seg.isoformat()}")
        ran = self.calendar.business_time_between(seg, at)
        budget = self.target - self.elapsed_before_pause
        if self.target_reached_at is None and timedelta(0) < budget <= ran:
            self.target_reached_at = self.calendar.add_business_time(seg, budget)
        self.elapsed_before_pause += ran
        self.paused_at = at
        self.running_since = None

    def resume(self, at: datetime) -> None:
        """Restart a paused clock at ``at``; no-op when running."""
        _to_us(at, "at")
        if self.paused_at is None:
            return
        if at < self.paused_at:
            raise ValueError(
                f"cannot resume at {at.isoformat()}, "
                f"before the pause at {self.paused_at.isoformat()}"
            )
        self.paused_at = None
        self.running_since = at

    def elapsed(self, at: datetime) -> timedelta:
        """Business time counted so far (never negative)."""
        _to_us(at, "at")
        if self.paused_at is not None:
            return self.elapsed_before_pause
        seg = self._segment_start
        if at <= seg:
            return self.elapsed_before_pause
        return self.elapsed_before_pause + self.calendar.business_time_between(seg, at)

    def due_at(self) -> datetime | None:
        """When the target is (or was) reached; ``None`` while paused."""
        if self.paused_at is not None:
            return None
        budget = self.target - self.elapsed_before_pause
        if budget <= timedelta(0):
            return self.target_reached_at or self._segment_start
        return self.calendar.add_business_time(self._segment_start, budget)

    def warning_at(self, *, fraction: float = 0.8) -> datetime | None:
        """When ``fraction`` of the target is used; ``None`` while paused.

        If that happened before the last pause, the start of the current running segment.
        """
        _check_fraction(fraction)
        if self.paused_at is not None:
            return None
        budget = self.target * fraction - self.elapsed_before_pause
        if budget <= timedelta(0):  # already reached before the last pause
            return self._segment_start
        return self.calendar.add_business_time(self._segment_start, budget)

    def remaining(self, at: datetime) -> timedelta:
        """Business time left before breach; negative once overdue."""
        return self.target - self.elapsed(at)

    def breached(self, at: datetime) -> bool:
        """Whether the target has been used up (at the due instant itself: breached)."""
        return self.elapsed(at) >= self.target

    def warning(self, at: datetime, *, fraction: float = 0.8) -> bool:
        """Whether ``fraction`` of the target is used up but the SLA is not yet breached."""
        _check_fraction(fraction)
        elapsed = self.elapsed(at)
        return self.target * fraction <= elapsed < self.target

    def to_dict(self, *, include_calendar: bool = True) -> dict[str, Any]:
        """JSON-able state (seconds and ISO datetimes), for a JSON column."""
        data: dict[str, Any] = {
            "target_seconds": _seconds(self.target),
            "started_at": self.started_at.isoformat(),
            "paused_at": self.paused_at.isoformat() if self.paused_at else None,
            "elapsed_before_pause_seconds": _seconds(self.elapsed_before_pause),
            "running_since": self.running_since.isoformat() if self.running_since else None,
            "target_reached_at": (
                self.target_reached_at.isoformat() if self.target_reached_at else None
            ),
        }
        if include_calendar:
            data["calendar"] = self.calendar.to_dict()
        return data

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, calendar: BusinessCalendar | None = None
    ) -> SlaClock:
        """Inverse of :meth:`to_dict`; ``calendar`` overrides the stored one."""
        if calendar is None:
            raw = data.get("calendar")
            if not isinstance(raw, Mapping):
                raise CalendarError("SLA clock data has no calendar and none was given")
            calendar = BusinessCalendar.from_dict(raw)
        started_at = _parse_aware(data, "started_at", required=True)
        assert started_at is not None
        return cls(
            target=_parse_seconds(data, "target_seconds"),
            calendar=calendar,
            started_at=started_at,
            paused_at=_parse_aware(data, "paused_at", required=False),
            elapsed_before_pause=_parse_seconds(data, "elapsed_before_pause_seconds"),
            running_since=_parse_aware(data, "running_since", required=False),
            target_reached_at=_parse_aware(data, "target_reached_at", required=False),
        )


def _check_fraction(fraction: float) -> None:
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")

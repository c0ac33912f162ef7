"""Calling windows: when a customer may be called, in the customer's own time zone.

Italian defaults (a campaign may change them): Monday to Friday 09:00-20:00, Saturday
10:00-14:00, never on Sundays nor on national holidays (the ``holidays`` package's Italy, which
knows Easter Monday and the movable feasts)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

DEFAULT_TIMEZONE = "Europe/Rome"
DEFAULT_WINDOW: dict[str, Any] = {
    "timezone": DEFAULT_TIMEZONE,
    "weekdays": ["09:00", "20:00"],
    "saturday": ["10:00", "14:00"],
    "sunday": None,
    "holidays": False,  # calls on national holidays
}


def window_of(stored: dict[str, Any] | None) -> dict[str, Any]:
    return {**DEFAULT_WINDOW, **(stored or {})}


@lru_cache(maxsize=64)
def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


@lru_cache(maxsize=16)
def _holidays(year: int) -> holidays_lib.HolidayBase:
    return holidays_lib.country_holidays("IT", years=year)


def is_holiday(day: date) -> bool:
    return day in _holidays(day.year)


def _parse(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _hours(window: dict[str, Any], day: date) -> tuple[time, time] | None:
    if is_holiday(day) and not window.get("holidays"):
        return None
    key = "sunday" if day.weekday() == 6 else "saturday" if day.weekday() == 5 else "weekdays"
    hours = window.get(key)
    if not hours:
        return None
    return _parse(hours[0]), _parse(hours[1])


def blocked_reason(window: dict[str, Any], at: datetime, timezone: str | None = None) -> str | None:
    """Why a call at ``at`` (aware, any zone) is not allowed, or None. ``timezone``: the
    customer's, else the campaign's."""
    local = at.astimezone(_zone(timezone or window.get("timezone")))
    day = local.date()
    if is_holiday(day) and not window.get("holidays"):
        return "holiday"
    hours = _hours(window, day)
    if hours is None:
        return "sunday" if day.weekday() == 6 else "closed_day"
    if not hours[0] <= local.time().replace(tzinfo=None) < hours[1]:
        return "outside_hours"
    return None


def next_open(window: dict[str, Any], at: datetime, timezone: str | None = None) -> datetime:
    """The first moment at or after ``at`` when a call is allowed (aware, in UTC); ``at``
    itself when the window is open. Looks two weeks ahead at most."""
    from datetime import UTC

    zone = _zone(timezone or window.get("timezone"))
    local = at.astimezone(zone)
    for offset in range(15):
        day = local.date() + timedelta(days=offset)
        hours = _hours(window, day)
        if hours is None:
            continue
        start = datetime.combine(day, hours[0], zone)
        end = datetime.combine(day, hours[1], zone)
        if offset == 0 and local >= end:
            continue
        return max(start, local).astimezone(UTC)
    return (local + timedelta(days=15)).astimezone(UTC)

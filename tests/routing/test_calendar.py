"""Business-hours calendar and SLA clock: hand-checked cases and property tests."""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sportello.routing.calendar import (
    BusinessCalendar,
    CalendarError,
    Interval,
    SlaClock,
    holiday_name,
)

ROME = ZoneInfo("Europe/Rome")
US = timedelta(microseconds=1)
H = timedelta(hours=1)
MIN = timedelta(minutes=1)

NINE_SIX = [(time(9), time(18))]
OFFICE_WEEKLY = {
    **{wd: [(time(9), time(13)), (time(14), time(18))] for wd in range(5)},
    5: [(time(9), time(12, 30))],
}


def real(a: datetime, b: datetime) -> timedelta:
    """Real elapsed time (subtracting two datetimes with the same tzinfo is wall-clock)."""
    return b.astimezone(UTC) - a.astimezone(UTC)


def rome(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, us, tzinfo=ROME)


@pytest.fixture(scope="module")
def nine_six() -> BusinessCalendar:
    return BusinessCalendar(weekly=dict.fromkeys(range(5), NINE_SIX))


@pytest.fixture(scope="module")
def office() -> BusinessCalendar:
    return BusinessCalendar(weekly=OFFICE_WEEKLY)


# --------------------------------------------------------------------------- due dates


def test_friday_evening_ticket_is_due_monday_morning(nine_six: BusinessCalendar) -> None:
    # 2026-03-06 is a Friday.
    due = nine_six.add_business_time(rome(2026, 3, 6, 17, 30), H)
    assert due == rome(2026, 3, 9, 9, 30)
    assert due.utcoffset() == H


def test_lunch_break_is_skipped(office: BusinessCalendar) -> None:
    assert office.add_business_time(rome(2026, 3, 9, 12, 30), H) == rome(2026, 3, 9, 14, 30)
    # Saturday morning only until 12:30, then Monday.
    assert office.add_business_time(rome(2026, 3, 7, 12), H) == rome(2026, 3, 9, 9, 30)


def test_start_before_opening_and_exact_closing_instant(nine_six: BusinessCalendar) -> None:
    assert nine_six.add_business_time(rome(2026, 3, 9, 6), 2 * H) == rome(2026, 3, 9, 11)
    # Exactly a full day of work lands on the closing instant, not the next morning.
    due = nine_six.add_business_time(rome(2026, 3, 9, 9), 9 * H)
    assert due == rome(2026, 3, 9, 18)
    assert not nine_six.is_open(due)
    assert nine_six.add_business_time(rome(2026, 3, 9, 9), 9 * H + US) == rome(2026, 3, 10, 9) + US


def test_multi_week_target_uses_whole_weeks(nine_six: BusinessCalendar) -> None:
    # 2026-03-02 (Mon) .. 2026-03-27: 4 weeks x 45 h, no holidays in March 2026.
    start = rome(2026, 3, 2, 9)
    assert nine_six.add_business_time(start, 180 * H) == rome(2026, 3, 27, 18)
    assert nine_six.add_business_time(start, 181 * H) == rome(2026, 3, 30, 10)
    assert nine_six.business_time_between(start, rome(2026, 3, 30, 10)) == 181 * H


def test_zero_duration_is_start_and_negative_is_rejected(nine_six: BusinessCalendar) -> None:
    start = rome(2026, 3, 7, 3)  # closed (Saturday night)
    assert nine_six.add_business_time(start, timedelta(0)) == start
    with pytest.raises(CalendarError, match="negative"):
        nine_six.add_business_time(start, -MIN)


def test_result_keeps_the_callers_time_zone(nine_six: BusinessCalendar) -> None:
    start_utc = datetime(2026, 3, 6, 16, 30, tzinfo=UTC)  # 17:30 in Rome
    due = nine_six.add_business_time(start_utc, H)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 3, 9, 8, 30, tzinfo=UTC)


# --------------------------------------------------------------------------- holidays


def test_christmas_and_santo_stefano_are_skipped(nine_six: BusinessCalendar) -> None:
    # 2025-12-24 Wed; 25 Thu (Natale) and 26 Fri (Santo Stefano) closed; next Mon 29.
    assert nine_six.add_business_time(rome(2025, 12, 24, 17, 30), H) == rome(2025, 12, 29, 9, 30)
    assert not nine_six.is_open(rome(2025, 12, 26, 10))
    assert nine_six.holiday_name(date(2025, 12, 26)) == "Santo Stefano"


def test_ferragosto(nine_six: BusinessCalendar) -> None:
    # 2025-08-15 is a Friday.
    assert nine_six.add_business_time(rome(2025, 8, 14, 17), 2 * H) == rome(2025, 8, 18, 10)


def test_pasquetta_2026_is_6_april(nine_six: BusinessCalendar) -> None:
    assert nine_six.is_holiday(date(2026, 4, 6))
    assert not nine_six.is_holiday(date(2026, 4, 7))
    assert holiday_name(date(2026, 4, 6)) == "Lunedì dell'Angelo"
    assert nine_six.add_business_time(rome(2026, 4, 3, 17, 30), H) == rome(2026, 4, 7, 9, 30)


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 1),  # Capodanno
        date(2026, 1, 6),  # Epifania
        date(2025, 4, 21),  # Pasquetta 2025
        date(2025, 4, 25),  # Liberazione
        date(2025, 5, 1),  # Festa del lavoro
        date(2025, 6, 2),  # Festa della Repubblica
        date(2025, 8, 15),  # Ferragosto
        date(2024, 11, 1),  # Ognissanti
        date(2025, 12, 8),  # Immacolata
        date(2025, 12, 25),  # Natale
        date(2025, 12, 26),  # Santo Stefano
        date(2027, 10, 4),  # San Francesco, national holiday from 2026 (Law 151/2025)
    ],
)
def test_national_holidays_on_weekdays_are_closed(nine_six: BusinessCalendar, day: date) -> None:
    assert day.weekday() < 5
    noon = datetime.combine(day, time(12), tzinfo=ROME)
    assert not nine_six.is_open(noon)
    assert holiday_name(day) is not None
    no_holidays = BusinessCalendar(weekly=dict.fromkeys(range(5), NINE_SIX), country_holidays=False)
    assert no_holidays.is_open(noon)


def test_ordinary_weekday_has_no_holiday_name() -> None:
    assert holiday_name(date(2026, 3, 10)) is None
    with pytest.raises(TypeError):
        holiday_name(rome(2026, 3, 10))  # a datetime is a date subclass, but ambiguous


@pytest.mark.parametrize(
    ("patron", "subdiv", "day", "name"),
    [
        ((12, 7), "MI", date(2026, 12, 7), "Sant'Ambrogio"),  # Monday
        ((6, 29), "RM", date(2026, 6, 29), "Santi Pietro e Paolo"),  # Monday
        ((6, 24), "TO", date(2026, 6, 24), "San Giovanni Battista"),  # Wednesday
        ((9, 19), "NA", date(2025, 9, 19), "San Gennaro"),  # Friday
        ((12, 6), "BA", date(2027, 12, 6), "San Nicola"),  # Monday
        ((7, 15), "PA", date(2026, 7, 15), "Santa Rosalia"),  # Wednesday
    ],
)
def test_patron_day_by_month_day_or_subdivision(
    patron: tuple[int, int], subdiv: str, day: date, name: str
) -> None:
    noon = datetime.combine(day, time(12), tzinfo=ROME)
    weekly = dict.fromkeys(range(5), NINE_SIX)
    assert BusinessCalendar(weekly=weekly).is_open(noon)
    by_date = BusinessCalendar(weekly=weekly, patron_day=patron)
    by_subdiv = BusinessCalendar(weekly=weekly, subdiv=subdiv)
    assert not by_date.is_open(noon)
    assert not by_subdiv.is_open(noon)
    assert by_date.holiday_name(day) == "Festa del santo patrono"
    assert by_subdiv.holiday_name(day) == name
    assert holiday_name(day, subdiv=subdiv) == name
    assert holiday_name(day, patron_day=patron) == "Festa del santo patrono"
    assert holiday_name(day) is None


def test_sant_ambrogio_then_immacolata() -> None:
    milano = BusinessCalendar(weekly=dict.fromkeys(range(5), NINE_SIX), subdiv="Milano")
    # Fri 2026-12-04 -> Mon 7 (Sant'Ambrogio) and Tue 8 (Immacolata) closed -> Wed 9.
    assert milano.add_business_time(rome(2026, 12, 4, 17, 30), H) == rome(2026, 12, 9, 9, 30)
    assert milano.to_dict()["subdiv"] == "MI"


def test_extra_holidays() -> None:
    cal = BusinessCalendar(
        weekly=dict.fromkeys(range(5), NINE_SIX), extra_holidays=[date(2026, 12, 24)]
    )
    assert not cal.is_open(rome(2026, 12, 24, 10))
    assert cal.holiday_name(date(2026, 12, 24)) == "Chiusura"
    assert cal.add_business_time(rome(2026, 12, 23, 17, 30), H) == rome(2026, 12, 28, 9, 30)


# --------------------------------------------------------------------------- DST


def test_twenty_four_seven_days_last_23_and_25_hours_on_dst_change() -> None:
    cal = BusinessCalendar.always_open()
    assert cal.business_time_between(rome(2026, 3, 29), rome(2026, 3, 30)) == 23 * H
    assert cal.business_time_between(rome(2026, 10, 25), rome(2026, 10, 26)) == 25 * H
    # 24 h of business time across the spring change is 24 real hours: 13:00 CEST.
    assert cal.add_business_time(rome(2026, 3, 28, 12), 24 * H) == rome(2026, 3, 29, 13)
    assert cal.add_business_time(rome(2026, 10, 24, 12), 24 * H) == rome(2026, 10, 25, 11)


def test_office_hours_across_dst_weekend(nine_six: BusinessCalendar) -> None:
    due = nine_six.add_business_time(rome(2026, 3, 27, 17), 2 * H)
    assert due == rome(2026, 3, 30, 10)
    assert due.utcoffset() == 2 * H
    assert nine_six.business_time_between(rome(2026, 10, 23, 17), rome(2026, 10, 26, 10)) == 2 * H


def test_night_hours_on_dst_nights() -> None:
    night = BusinessCalendar(
        weekly={wd: [(time(0), time(6))] for wd in range(7)}, country_holidays=False
    )
    assert night.business_time_between(rome(2026, 3, 29), rome(2026, 3, 30)) == 5 * H
    assert night.business_time_between(rome(2026, 10, 25), rome(2026, 10, 26)) == 7 * H
    # 01:30 CET + 1 h of real time is 03:30 CEST.
    assert night.add_business_time(rome(2026, 3, 29, 1, 30), H) == rome(2026, 3, 29, 3, 30)


def test_boundaries_inside_the_changed_hour() -> None:
    cal = BusinessCalendar(weekly={6: [(time(2, 30), time(4))]}, country_holidays=False)
    # Spring: 02:30 does not exist, the interval starts at the change (03:00 CEST).
    spring = list(cal.open_intervals(rome(2026, 3, 29), rome(2026, 3, 30)))
    assert spring == [(rome(2026, 3, 29, 3), rome(2026, 3, 29, 4))]
    # Autumn: 02:30 happens twice, the interval starts at the first one.
    autumn = list(cal.open_intervals(rome(2026, 10, 25), rome(2026, 10, 26)))
    assert len(autumn) == 1
    assert autumn[0][0].utcoffset() == 2 * H
    assert real(*autumn[0]) == timedelta(hours=2.5)
    assert cal.business_time_between(rome(2026, 10, 25), rome(2026, 10, 26)) == timedelta(hours=2.5)


# --------------------------------------------------------------------------- closures


def test_partial_day_closure(nine_six: BusinessCalendar) -> None:
    cal = BusinessCalendar(
        weekly=dict.fromkeys(range(5), NINE_SIX),
        closures=[(rome(2026, 3, 10, 14), rome(2026, 3, 10, 16))],
    )
    assert not cal.is_open(rome(2026, 3, 10, 15))
    assert cal.is_open(rome(2026, 3, 10, 16))
    assert cal.next_open(rome(2026, 3, 10, 14, 30)) == rome(2026, 3, 10, 16)
    assert cal.next_close(rome(2026, 3, 10, 10)) == rome(2026, 3, 10, 14)
    assert cal.add_business_time(rome(2026, 3, 10, 13), 2 * H) == rome(2026, 3, 10, 17)
    assert nine_six.add_business_time(rome(2026, 3, 10, 13), 2 * H) == rome(2026, 3, 10, 15)


def test_summer_closure_from_dict_dates_are_inclusive() -> None:
    cal = BusinessCalendar.from_dict(
        {
            "weekly": {"mon": [["09:00", "18:00"]], "fri": [["09:00", "18:00"]]},
            "closures": [{"start": "2026-08-10", "end": "2026-08-21"}],
        }
    )
    assert not cal.is_open(rome(2026, 8, 10, 10))
    assert not cal.is_open(rome(2026, 8, 21, 10))
    assert cal.is_open(rome(2026, 8, 24, 10))
    # Fri 7 Aug 17:00 + 2 h: one hour that day, then Mon 24 Aug.
    assert cal.add_business_time(rome(2026, 8, 7, 17), 2 * H) == rome(2026, 8, 24, 10)


def test_closure_with_naive_datetimes_in_config_uses_calendar_tz() -> None:
    cal = BusinessCalendar.from_dict(
        {
            "tz": "Europe/Rome",
            "weekly": {"tue": [["09:00", "18:00"]]},
            "closures": [["2026-03-10T14:00", "2026-03-10T16:00:00+01:00"]],
        }
    )
    assert not cal.is_open(rome(2026, 3, 10, 14))
    assert cal.is_open(rome(2026, 3, 10, 13, 59))


# --------------------------------------------------------------------------- queries


def test_next_open_and_next_close(office: BusinessCalendar) -> None:
    assert office.next_open(rome(2026, 3, 9, 10)) == rome(2026, 3, 9, 10)
    assert office.next_open(rome(2026, 3, 9, 13)) == rome(2026, 3, 9, 14)
    assert office.next_open(rome(2026, 3, 7, 12, 30)) == rome(2026, 3, 9, 9)
    assert office.next_close(rome(2026, 3, 9, 10)) == rome(2026, 3, 9, 13)
    assert office.next_close(rome(2026, 3, 9, 13, 30)) == rome(2026, 3, 9, 13, 30)


def test_night_shift_joins_across_midnight() -> None:
    cal = BusinessCalendar(
        weekly={0: [(time(22), time(0))], 1: [(time(0), time(6))]}, country_holidays=False
    )
    assert cal.next_close(rome(2026, 3, 9, 23)) == rome(2026, 3, 10, 6)
    assert list(cal.open_intervals(rome(2026, 3, 9), rome(2026, 3, 11))) == [
        (rome(2026, 3, 9, 22), rome(2026, 3, 10, 6))
    ]
    assert cal.add_business_time(rome(2026, 3, 9, 23), 2 * H) == rome(2026, 3, 10, 1)


def test_always_open_never_closes() -> None:
    cal = BusinessCalendar.always_open()
    at = rome(2026, 12, 25, 3)
    assert cal.is_open(at)
    assert cal.add_business_time(at, 100 * H) == at + 100 * H
    with pytest.raises(CalendarError, match="does not close"):
        cal.next_close(at)


def test_business_time_between_is_antisymmetric(office: BusinessCalendar) -> None:
    a, b = rome(2026, 3, 9, 8), rome(2026, 3, 10, 10)
    assert office.business_time_between(a, b) == 9 * H
    assert office.business_time_between(b, a) == -9 * H
    assert office.business_time_between(a, a) == timedelta(0)


def test_year_of_office_hours(nine_six: BusinessCalendar) -> None:
    # 2026: 261 weekdays, 7 of them national holidays -> 254 days x 9 h.
    assert nine_six.business_time_between(rome(2026, 1, 1), rome(2027, 1, 1)) == 254 * 9 * H


def test_closed_for_years_raises_instead_of_looping() -> None:
    cal = BusinessCalendar(weekly={0: NINE_SIX}, closures=[(rome(2026, 1, 1), rome(2030, 1, 1))])
    with pytest.raises(CalendarError, match="no open time"):
        cal.next_open(rome(2026, 3, 6))
    with pytest.raises(CalendarError, match="no open time"):
        cal.add_business_time(rome(2026, 3, 6), H)
    # Open again within three years: found.
    short = BusinessCalendar(weekly={0: NINE_SIX}, closures=[(rome(2026, 1, 1), rome(2028, 1, 1))])
    assert short.add_business_time(rome(2026, 3, 6), H) == rome(2028, 1, 3, 10)


def test_naive_datetimes_are_rejected(nine_six: BusinessCalendar) -> None:
    naive = datetime(2026, 3, 9, 10)
    aware = rome(2026, 3, 9, 10)
    for call in (
        lambda: nine_six.is_open(naive),
        lambda: nine_six.next_open(naive),
        lambda: nine_six.next_close(naive),
        lambda: nine_six.add_business_time(naive, H),
        lambda: nine_six.business_time_between(naive, aware),
        lambda: nine_six.business_time_between(aware, naive),
        lambda: list(nine_six.open_intervals(aware, naive)),
    ):
        with pytest.raises(ValueError, match="timezone-aware"):
            call()
    with pytest.raises(ValueError, match="timezone-aware"):
        BusinessCalendar(weekly={0: NINE_SIX}, closures=[(naive, aware)])


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        ({0: [(time(9), time(13)), (time(12), time(14))]}, "overlap"),
        ({0: [(time(9), time(9))]}, "end must be after start"),
        ({0: [(time(18), time(9))]}, "end must be after start"),
        ({}, "no open hours"),
        ({0: [], 6: []}, "no open hours"),
        ({7: NINE_SIX}, "weekday"),
        ({0: [(time(9),)]}, "pair"),
    ],
)
def test_invalid_weekly_hours(weekly: dict[int, list[tuple[time, ...]]], message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        BusinessCalendar(weekly=weekly)  # type: ignore[arg-type]


def test_other_invalid_configuration() -> None:
    with pytest.raises(CalendarError, match="time zone"):
        BusinessCalendar(weekly={0: NINE_SIX}, tz="Europe/Atlantis")
    with pytest.raises(CalendarError, match="subdivision"):
        BusinessCalendar(weekly={0: NINE_SIX}, subdiv="XX")
    with pytest.raises(CalendarError, match="patron_day"):
        BusinessCalendar(weekly={0: NINE_SIX}, patron_day=(2, 30))
    with pytest.raises(CalendarError, match="end <= start"):
        BusinessCalendar(weekly={0: NINE_SIX}, closures=[(rome(2026, 1, 2), rome(2026, 1, 1))])
    with pytest.raises(CalendarError, match="24:00"):
        BusinessCalendar.from_dict({"weekly": {"mon": [["24:00", "24:00"]]}})
    with pytest.raises(CalendarError, match="unknown calendar config keys"):
        BusinessCalendar.from_dict({"weekly": {"mon": [["09:00", "18:00"]]}, "hours": 1})
    with pytest.raises(CalendarError, match=r"weekly\.mon"):
        BusinessCalendar.from_dict({"weekly": {"mon": [["09:00", "nine"]]}})


def test_adjacent_intervals_are_allowed_and_joined() -> None:
    cal = BusinessCalendar(weekly={0: [(time(14), time(18)), (time(9), time(14))]})
    assert cal.next_close(rome(2026, 3, 9, 10)) == rome(2026, 3, 9, 18)
    assert [str(i) for i in cal.weekly[0]] == ["09:00-14:00", "14:00-18:00"]


def test_interval_midnight_end() -> None:
    whole = Interval(time(0), time(0))
    assert whole.end_us - whole.start_us == 86_400_000_000
    assert str(whole) == "00:00-24:00"
    with pytest.raises(CalendarError):
        Interval(time(10), time(9))


# --------------------------------------------------------------------------- serialisation


def test_calendar_dict_round_trip() -> None:
    cal = BusinessCalendar(
        weekly={**OFFICE_WEEKLY, 6: [(time(20), time(0))]},
        tz="Europe/Rome",
        subdiv="RM",
        patron_day=(2, 29),
        closures=[
            (rome(2026, 8, 10), rome(2026, 8, 22)),
            (rome(2026, 3, 10, 14), rome(2026, 3, 10, 16)),
        ],
        extra_holidays=[date(2026, 12, 24), date(2026, 12, 31)],
    )
    data = cal.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["weekly"]["sun"] == [["20:00", "24:00"]]
    assert data["weekly"]["sat"] == [["09:00", "12:30"]]
    again = BusinessCalendar.from_dict(json.loads(json.dumps(data)))
    assert again == cal
    assert again.to_dict() == data
    assert again != BusinessCalendar(weekly=OFFICE_WEEKLY)


def test_from_dict_accepts_numeric_weekdays_and_seconds() -> None:
    cal = BusinessCalendar.from_dict({"weekly": {"0": [["09:00:30", "18:00"]], 1: []}})
    assert cal.is_open(rome(2026, 3, 9, 9, 0, 30))
    assert not cal.is_open(rome(2026, 3, 9, 9, 0, 29))
    assert cal.to_dict()["weekly"]["mon"] == [["09:00:30", "18:00"]]


# --------------------------------------------------------------------------- SLA clock


def test_sla_clock_runs_pauses_and_resumes(nine_six: BusinessCalendar) -> None:
    clock = SlaClock(target=4 * H, calendar=nine_six, started_at=rome(2026, 3, 9, 10))
    assert clock.due_at() == rome(2026, 3, 9, 14)
    assert clock.elapsed(rome(2026, 3, 9, 11)) == H
    assert clock.remaining(rome(2026, 3, 9, 11)) == 3 * H

    clock.pause(rome(2026, 3, 9, 11))  # pending on the customer
    assert clock.is_paused
    assert clock.due_at() is None
    assert clock.warning_at() is None
    assert clock.elapsed(rome(2026, 3, 12, 11)) == H
    assert not clock.breached(rome(2026, 3, 20))
    clock.pause(rome(2026, 3, 9, 12))  # idempotent
    assert clock.elapsed(rome(2026, 3, 9, 12)) == H

    clock.resume(rome(2026, 3, 10, 10))  # customer answered on Tuesday
    assert clock.due_at() == rome(2026, 3, 10, 13)
    assert clock.elapsed(rome(2026, 3, 10, 12)) == 3 * H
    assert not clock.breached(rome(2026, 3, 10, 13) - US)
    assert clock.breached(rome(2026, 3, 10, 13))
    assert clock.remaining(rome(2026, 3, 10, 14)) == -H


def test_sla_warning_band(nine_six: BusinessCalendar) -> None:
    clock = SlaClock(target=10 * H, calendar=nine_six, started_at=rome(2026, 3, 9, 9))
    # 8 h of the 10 h are used at Mon 17:00.
    assert clock.warning_at() == rome(2026, 3, 9, 17)
    assert not clock.warning(rome(2026, 3, 9, 17) - US)
    assert clock.warning(rome(2026, 3, 9, 17))
    assert clock.warning(rome(2026, 3, 10, 9, 30))
    assert not clock.warning(rome(2026, 3, 10, 10))  # breached now, no longer a warning
    assert clock.breached(rome(2026, 3, 10, 10))
    assert clock.warning(rome(2026, 3, 9, 13), fraction=0.4)
    with pytest.raises(ValueError, match="fraction"):
        clock.warning(rome(2026, 3, 9, 13), fraction=1.5)


def test_sla_pause_after_breach_keeps_the_due_instant(nine_six: BusinessCalendar) -> None:
    clock = SlaClock(target=H, calendar=nine_six, started_at=rome(2026, 3, 9, 17, 30))
    clock.pause(rome(2026, 3, 10, 12))
    assert clock.target_reached_at == rome(2026, 3, 10, 9, 30)
    clock.resume(rome(2026, 3, 11, 9))
    assert clock.due_at() == rome(2026, 3, 10, 9, 30)
    assert clock.breached(rome(2026, 3, 11, 9))


def test_sla_clock_validation(nine_six: BusinessCalendar) -> None:
    for target in (timedelta(0), -H):
        with pytest.raises(CalendarError, match="positive"):
            SlaClock(target=target, calendar=nine_six, started_at=rome(2026, 3, 9, 10))
    with pytest.raises(ValueError, match="timezone-aware"):
        SlaClock(target=H, calendar=nine_six, started_at=datetime(2026, 3, 9, 10))
    clock = SlaClock(target=H, calendar=nine_six, started_at=rome(2026, 3, 9, 10))
    with pytest.raises(ValueError, match="before"):
        clock.pause(rome(2026, 3, 9, 9))
    clock.pause(rome(2026, 3, 9, 10, 30))
    with pytest.raises(ValueError, match="before the pause"):
        clock.resume(rome(2026, 3, 9, 10))
    assert clock.elapsed(rome(2026, 3, 9, 9)) == 30 * MIN


def test_sla_clock_json_round_trip(nine_six: BusinessCalendar) -> None:
    clock = SlaClock(
        target=timedelta(hours=8, microseconds=5),
        calendar=nine_six,
        started_at=rome(2026, 3, 9, 10),
    )
    clock.pause(rome(2026, 3, 9, 11, 15))
    clock.resume(rome(2026, 3, 9, 15))
    data = json.loads(json.dumps(clock.to_dict()))
    again = SlaClock.from_dict(data)
    assert again == clock
    assert again.due_at() == clock.due_at()
    bare = clock.to_dict(include_calendar=False)
    assert "calendar" not in bare
    assert SlaClock.from_dict(bare, calendar=nine_six) == clock
    with pytest.raises(CalendarError, match="no calendar"):
        SlaClock.from_dict(bare)


# --------------------------------------------------------------------------- properties
#
# Random calendars on a 15-minute grid are checked against a brute-force oracle that reads
# the wall clock directly.  Grid points strictly inside 02:00-03:00 are left out: there
# "wall clock in interval" and "earliest instant of each boundary" legitimately differ on
# the autumn night (see test_boundaries_inside_the_changed_hour).

QUARTER = timedelta(minutes=15)
WINDOW_START = datetime(2025, 1, 1, tzinfo=UTC)
WINDOW_END = datetime(2028, 1, 1, tzinfo=UTC)
GRID = [q for q in range(97) if q not in (9, 10, 11)]
SPECIAL_DAYS = [
    date(2025, 3, 30), date(2025, 10, 26), date(2026, 3, 29), date(2026, 10, 25),
    date(2025, 12, 24), date(2025, 12, 26), date(2026, 4, 6), date(2026, 1, 1),
    date(2025, 8, 15), date(2026, 12, 7), date(2027, 12, 31),
]  # fmt: skip


@functools.cache
def national_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("IT", years=year)


@dataclass(frozen=True)
class Spec:
    weekly: dict[int, list[tuple[int, int]]]  # quarter-hour indices, 96 = 24:00
    country: bool
    patron: tuple[int, int] | None
    closures: list[tuple[datetime, datetime]]
    extra: list[date]

    def build(self) -> BusinessCalendar:
        def t(q: int) -> time:
            return time(0) if q == 96 else time(q // 4, q % 4 * 15)

        return BusinessCalendar(
            weekly={wd: [(t(a), t(b)) for a, b in ivs] for wd, ivs in self.weekly.items()},
            country_holidays=self.country,
            patron_day=self.patron,
            closures=self.closures,
            extra_holidays=self.extra,
        )

    def is_open(self, at: datetime) -> bool:
        if any(a <= at < b for a, b in self.closures):
            return False
        local = at.astimezone(ROME)
        day = local.date()
        if day in self.extra or (self.patron and (day.month, day.day) == self.patron):
            return False
        if self.country and day in national_holidays(day.year):
            return False
        wall = local.replace(tzinfo=None) - datetime.combine(day, time())
        return any(a * QUARTER <= wall < b * QUARTER for a, b in self.weekly.get(day.weekday(), []))

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Open time by quarter-hour UTC cells (openness is constant inside each)."""
        total = timedelta(0)
        utc = start.astimezone(UTC)
        cell = utc.replace(minute=utc.minute // 15 * 15, second=0, microsecond=0)
        while cell < end:
            lo, hi = max(cell, start), min(cell + QUARTER, end)
            if hi > lo and self.is_open(cell):
                total += hi - lo
            cell += QUARTER
        return total


@st.composite
def day_intervals(draw: st.DrawFn) -> list[tuple[int, int]]:
    points = sorted(draw(st.sets(st.sampled_from(GRID), max_size=6)))
    if len(points) % 2:
        points = points[:-1]
    return [(points[i], points[i + 1]) for i in range(0, len(points), 2)]


instants = st.one_of(
    st.integers(0, int((WINDOW_END - WINDOW_START) / US)).map(lambda n: WINDOW_START + n * US),
    st.builds(
        lambda d, q, delta: datetime.combine(d, time(), tzinfo=ROME) + q * QUARTER + delta * US,
        st.sampled_from(SPECIAL_DAYS),
        st.integers(0, 96),
        st.sampled_from([-1, 0, 1, 37_000_000]),
    ).map(lambda dt: dt.astimezone(UTC).astimezone(ROME)),
)
closure_ranges = st.builds(
    lambda start_q, length_q: (
        WINDOW_START + start_q * QUARTER,
        WINDOW_START + (start_q + length_q) * QUARTER,
    ),
    st.integers(0, int((WINDOW_END - WINDOW_START) / QUARTER) - 10_000),
    st.integers(1, 2000),
)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    weekly = {wd: draw(day_intervals()) for wd in range(7)}
    assume(any(weekly.values()))
    return Spec(
        weekly=weekly,
        country=draw(st.booleans()),
        patron=draw(st.sampled_from([None, (12, 7), (6, 29), (2, 29)])),
        closures=draw(st.lists(closure_ranges, max_size=3)),
        extra=draw(st.lists(st.sampled_from(SPECIAL_DAYS), max_size=2)),
    )


FIXED = [
    Spec({wd: [(36, 52), (56, 72)] for wd in range(5)} | {5: [(36, 50)]}, True, (12, 7), [], []),
    Spec({wd: [(0, 96)] for wd in range(7)}, False, None, [], []),
    Spec({wd: [(0, 24), (88, 96)] for wd in range(7)}, True, None, [], []),  # night shift
    Spec({wd: [(4, 8), (12, 16)] for wd in range(7)}, False, None, [], []),  # around DST
]
any_spec = st.one_of(st.sampled_from(FIXED), specs())
short = st.integers(0, int(timedelta(days=6) / US)).map(lambda n: n * US)
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(any_spec, instants)
def test_is_open_matches_wall_clock_oracle(spec: Spec, at: datetime) -> None:
    assert spec.build().is_open(at) == spec.is_open(at)


@PROPS
@given(any_spec, instants, short)
def test_due_date_matches_brute_force(spec: Spec, start: datetime, duration: timedelta) -> None:
    cal = spec.build()
    try:
        due = cal.add_business_time(start, duration)
    except CalendarError:
        assume(False)
        raise
    assert due >= start
    assert cal.business_time_between(start, due) == duration
    if duration:
        assert spec.is_open(due - US)  # earliest: the last microsecond counted was open
        assert cal.business_time_between(start, due - US) == duration - US
        if real(start, due) < timedelta(days=40):  # keep the brute force affordable
            assert spec.between(start, due) == duration


@PROPS
@given(any_spec, instants, short)
def test_between_matches_brute_force(spec: Spec, start: datetime, length: timedelta) -> None:
    cal = spec.build()
    end = start.astimezone(UTC) + length  # real time, not wall-clock arithmetic
    assert cal.business_time_between(start, end) == spec.between(start, end)
    pieces = list(cal.open_intervals(start, end))
    assert sum((real(a, b) for a, b in pieces), timedelta(0)) == spec.between(start, end)
    for (a, b), (c, _) in itertools.pairwise(pieces):
        assert a < b < c  # sorted, non-empty, touching stretches joined
    for a, b in pieces:
        assert spec.is_open(a)
        assert spec.is_open(b - US)


@PROPS
@given(any_spec, instants, short, short)
def test_due_date_is_monotonic(spec: Spec, start: datetime, d1: timedelta, d2: timedelta) -> None:
    cal = spec.build()
    lo, hi = sorted((d1, d2))
    try:
        assert cal.add_business_time(start, lo) <= cal.add_business_time(start, hi)
        later = start.astimezone(UTC) + (hi - lo)
        assert cal.add_business_time(start, lo) <= cal.add_business_time(later, lo)
    except CalendarError:
        assume(False)


@PROPS
@given(any_spec, instants, instants, instants)
def test_between_is_additive(spec: Spec, a: datetime, b: datetime, c: datetime) -> None:
    a, b, c = sorted((a, b, c))
    cal = spec.build()
    assert cal.business_time_between(a, b) + cal.business_time_between(b, c) == (
        cal.business_time_between(a, c)
    )


@PROPS
@given(any_spec, instants, st.integers(0, int(timedelta(days=200) / US)).map(lambda n: n * US))
def test_long_due_dates_round_trip(spec: Spec, start: datetime, duration: timedelta) -> None:
    cal = spec.build()
    try:
        due = cal.add_business_time(start, duration)
    except CalendarError:
        assume(False)
        raise
    assert cal.business_time_between(start, due) == duration
    if duration:
        assert cal.is_open(due - US)
    # Whole-week skipping agrees with summing single days.
    utc = start.astimezone(UTC)
    days = [utc + i * timedelta(days=1) for i in range(real(start, due).days + 1)] + [due]
    pieces = [cal.business_time_between(x, y) for x, y in itertools.pairwise(days)]
    assert sum(pieces, timedelta(0)) == duration


@PROPS
@given(any_spec, instants)
def test_next_open_and_next_close_properties(spec: Spec, at: datetime) -> None:
    cal = spec.build()
    try:
        opening = cal.next_open(at)
    except CalendarError:
        assume(False)
        raise
    assert opening >= at
    assert spec.is_open(opening)
    assert cal.business_time_between(at, opening) == timedelta(0)
    if spec.is_open(at):
        assert opening == at
    try:
        closing = cal.next_close(opening)
    except CalendarError:
        assume(False)
        raise
    assert closing > opening
    assert not spec.is_open(closing)
    assert cal.business_time_between(opening, closing) == real(opening, closing)


@PROPS
@given(
    st.sampled_from(FIXED[:1]),
    instants,
    st.lists(st.integers(1, int(timedelta(days=3) / US)).map(lambda n: n * US), max_size=6),
    st.integers(1, int(timedelta(days=2) / US)).map(lambda n: n * US),
)
def test_sla_clock_counts_only_running_business_time(
    spec: Spec, start: datetime, gaps: Sequence[timedelta], target: timedelta
) -> None:
    cal = spec.build()
    clock = SlaClock(target=target, calendar=cal, started_at=start)
    start = start.astimezone(UTC)  # so that adding gaps moves forward in real time
    t, expected, running, segment = start, timedelta(0), True, start
    for gap in gaps:
        t += gap
        if running:
            clock.pause(t)
            expected += cal.business_time_between(segment, t)
        else:
            clock.resume(t)
            segment = t
        running = not running
        clock = SlaClock.from_dict(json.loads(json.dumps(clock.to_dict())))
    now = t + timedelta(hours=5)
    if running:
        expected += cal.business_time_between(segment, now)
    assert clock.elapsed(now) == expected
    assert clock.breached(now) == (expected >= target)
    if running:
        due = clock.due_at()
        assert due is not None
        assert clock.breached(due)
        if clock.target_reached_at is None:
            assert clock.elapsed(due) == target
            assert not clock.breached(due - US)

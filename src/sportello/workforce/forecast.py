"""Forecast contacts and handle time per interval, from history: model choice by back-test.

The shape is the one contact-centre planners use ("top-down"): a **daily total** forecast carries
the weekly seasonality, trend and holidays; an **intraday profile** per weekday (share of the
day's contacts in each interval, from the last weeks) carries the daily seasonality; handle time
per weekday and interval is a contact-weighted mean, pulled towards the series mean where there
are few contacts. Daily-total models, fitted with statsmodels:

* ``seasonal_naive``: the same weekday last week (the baseline every model must beat);
* ``holt_winters``: additive damped-trend Holt-Winters with weekly seasonality
  (``statsmodels.tsa.holtwinters.ExponentialSmoothing``), fitted on a series where holidays are
  replaced by their weekday's level, then holidays scaled by their measured ratio;
* ``regression``: least squares (``statsmodels`` OLS) on a trend, weekday dummies and a holiday
  regressor (Italian public holidays from ``holidays``, plus closures).

Each is back-tested by rolling origin (the last ``folds`` weeks, forecasting ``horizon`` days from
each origin); the one with the lowest mean WAPE over intervals wins, and its WAPE / MAPE per
horizon week are kept to show. Manual adjustments (campaigns, events, closures) multiply the
result afterwards.

Why statsmodels and not statsforecast: statsforecast pulls numba and llvmlite (JIT compile on
first call, seconds of start-up, ~45 MB more) for models we use at daily grain on a few hundred
points, where statsmodels' Holt-Winters and OLS fit in milliseconds; both are imported lazily.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

MODELS = ("seasonal_naive", "holt_winters", "regression")
PROFILE_WEEKS = 8


@dataclass
class Series:
    """A history: counts and handle seconds per interval, from ``start`` (UTC, aligned)."""

    start: datetime
    interval_minutes: int
    contacts: Array
    handle_seconds: Array
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Rome"))


@dataclass
class Forecast:
    start: datetime  # first forecast interval, UTC
    interval_minutes: int
    contacts: Array
    aht_seconds: Array
    model: str
    backtest: dict[str, dict[str, dict[str, float]]]  # model -> "week 1" -> {"wape", "mape"}


# --------------------------------------------------------------------------- calendar helpers


def interval_starts(start: datetime, count: int, minutes: int) -> list[datetime]:
    step = timedelta(minutes=minutes)
    return [start + i * step for i in range(count)]


def _local_keys(
    starts: list[datetime], tz: ZoneInfo
) -> tuple[list[date], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Local day, weekday and slot-of-day of each interval start (DST-aware)."""
    days, weekdays, slots = [], [], []
    for s in starts:
        local = s.astimezone(tz)
        days.append(local.date())
        weekdays.append(local.weekday())
        slots.append(local.hour * 60 + local.minute)
    return days, np.array(weekdays), np.array(slots)


def default_holidays(days: Iterable[date]) -> set[date]:
    import holidays as holidays_lib

    years = {d.year for d in days}
    if not years:
        return set()
    return set(holidays_lib.country_holidays("IT", years=sorted(years)).keys())


# --------------------------------------------------------------------------- daily models


def _weekday_dummies(weekdays: npt.NDArray[np.int64]) -> Array:
    out = np.zeros((weekdays.size, 6))
    for k in range(1, 7):
        out[:, k - 1] = weekdays == k
    return out


def _fit_daily(
    model: str,
    y: Array,
    weekdays: npt.NDArray[np.int64],
    is_holiday: npt.NDArray[np.bool_],
    future_weekdays: npt.NDArray[np.int64],
    future_holiday: npt.NDArray[np.bool_],
) -> Array:
    """Fit ``model`` on the daily totals and forecast; a model that cannot fit this series
    (statsmodels raises on degenerate data) falls back to the seasonal naive forecast. Fit
    warnings (a perfect fit's log of zero, slow convergence) are not actionable here: the
    back-test judges every model on its errors."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return _fit_daily_raw(model, y, weekdays, is_holiday, future_weekdays, future_holiday)
        except (ValueError, np.linalg.LinAlgError):
            if model == "seasonal_naive":
                raise
            return _fit_daily_raw(
                "seasonal_naive", y, weekdays, is_holiday, future_weekdays, future_holiday
            )


def _fit_daily_raw(
    model: str,
    y: Array,
    weekdays: npt.NDArray[np.int64],
    is_holiday: npt.NDArray[np.bool_],
    future_weekdays: npt.NDArray[np.int64],
    future_holiday: npt.NDArray[np.bool_],
) -> Array:
    h = future_weekdays.size
    n = y.size
    if model == "seasonal_naive" or n < 14:
        # same weekday one week (or more) before, skipping holidays in the history
        out = np.zeros(h)
        clean = np.where(is_holiday, np.nan, y)
        for i in range(h):
            back = [j for j in range(n - 7 + (i % 7), -1, -7) if not np.isnan(clean[j])][:1]
            out[i] = clean[back[0]] if back else (np.nanmean(clean) if n else 0.0)
        return np.where(future_holiday, out * _holiday_ratio(y, weekdays, is_holiday), out)
    if model == "holt_winters":
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        clean = y.copy()
        for k in range(7):
            mask = weekdays == k
            ok = mask & ~is_holiday
            if is_holiday[mask].any() and ok.any():
                clean[mask & is_holiday] = np.mean(y[ok])
        fitted = ExponentialSmoothing(
            clean,
            trend="add",
            damped_trend=True,
            seasonal="add",
            seasonal_periods=7,
            initialization_method="estimated",
        ).fit(method="least_squares")  # same optimum as L-BFGS-B here, 3-4x faster
        out = np.asarray(fitted.forecast(h), dtype=np.float64)
        return np.where(future_holiday, out * _holiday_ratio(y, weekdays, is_holiday), out)
    if model == "regression":
        import statsmodels.api as sm

        def design(t: Array, wd: npt.NDArray[np.int64], hol: npt.NDArray[np.bool_]) -> Array:
            return np.column_stack([np.ones(t.size), t, _weekday_dummies(wd), hol.astype(float)])

        t = np.arange(n, dtype=np.float64)
        x = design(t, weekdays, is_holiday)
        if not is_holiday.any():
            x = x[:, :-1]
        fitted = sm.OLS(y, x).fit()
        xf = design(np.arange(n, n + h, dtype=np.float64), future_weekdays, future_holiday)
        if not is_holiday.any():
            base = np.asarray(xf[:, :-1] @ fitted.params, dtype=np.float64)
            ratio = _holiday_ratio(y, weekdays, is_holiday)
            scaled: Array = np.where(future_holiday, base * ratio, base)
            return scaled
        result: Array = np.asarray(xf @ fitted.params, dtype=np.float64)
        return result
    raise ValueError(f"unknown model {model!r}")


def _holiday_ratio(
    y: Array, weekdays: npt.NDArray[np.int64], is_holiday: npt.NDArray[np.bool_]
) -> float:
    """Volume on past holidays relative to their weekday's usual level (0.3 if none seen)."""
    ratios = []
    for i in np.flatnonzero(is_holiday):
        same = (weekdays == weekdays[i]) & ~is_holiday
        level = y[same].mean() if same.any() else 0.0
        if level > 0:
            ratios.append(y[i] / level)
    return float(np.mean(ratios)) if ratios else 0.3


# --------------------------------------------------------------------------- intraday


def _profiles(
    contacts: Array, handle: Array, day_index: npt.NDArray[np.int64],
    weekdays: npt.NDArray[np.int64],
    slots: npt.NDArray[np.int64], n_days: int, slots_per_day: int, minutes: int,
) -> tuple[Array, Array]:  # fmt: skip
    """(share of the day per weekday x slot, AHT per weekday x slot) from the last weeks."""
    first_day = max(0, n_days - PROFILE_WEEKS * 7)
    recent = day_index >= first_day
    counts = np.zeros((7, slots_per_day))
    work = np.zeros((7, slots_per_day))
    slot_idx = slots // minutes
    np.add.at(counts, (weekdays[recent].astype(int), slot_idx[recent]), contacts[recent])
    np.add.at(work, (weekdays[recent].astype(int), slot_idx[recent]), handle[recent])
    overall = counts.sum(axis=0) + 1e-9
    shares = np.zeros_like(counts)
    for k in range(7):
        total = counts[k].sum()
        prior = overall / overall.sum()
        # a few contacts on a weekday: lean on the all-days profile (weight of 20 contacts)
        shares[k] = (counts[k] + 20 * prior) / (total + 20)
    mean_aht = handle.sum() / contacts.sum() if contacts.sum() > 0 else 0.0
    aht = (work + 10 * mean_aht) / (counts + 10)  # shrunk towards the series mean
    return shares, aht


# --------------------------------------------------------------------------- public


def forecast(
    series: Series,
    *,
    horizon_days: int,
    holidays: set[date] | None = None,
    adjust: Callable[[date], float] | None = None,
    models: Iterable[str] = MODELS,
    folds: int = 4,
    backtest_horizon_days: int = 14,
) -> Forecast:
    """Forecast ``horizon_days`` whole local days after the history, choosing the model by
    back-test. ``series.start`` must be a local midnight and the history whole days."""
    minutes = series.interval_minutes
    per_day = 24 * 60 // minutes
    n_int = series.contacts.size
    starts = interval_starts(series.start, n_int, minutes)
    days, weekdays, slots = _local_keys(starts, series.tz)
    unique_days = sorted(set(days))
    day_pos = {d: i for i, d in enumerate(unique_days)}
    day_index = np.array([day_pos[d] for d in days])
    n_days = len(unique_days)
    daily = np.zeros(n_days)
    np.add.at(daily, day_index, series.contacts)
    day_weekdays = np.array([d.weekday() for d in unique_days])
    last = unique_days[-1] if unique_days else series.start.astimezone(series.tz).date()
    future_days = [last + timedelta(days=i + 1) for i in range(horizon_days)]
    hol = holidays if holidays is not None else default_holidays([*unique_days, *future_days])
    day_hol = np.array([d in hol for d in unique_days], dtype=bool)

    def run(model: str, upto: int, h: int) -> Array:
        fut = [unique_days[upto - 1] + timedelta(days=i + 1) for i in range(h)]
        return np.maximum(
            _fit_daily(
                model,
                daily[:upto],
                day_weekdays[:upto],
                day_hol[:upto],
                np.array([d.weekday() for d in fut]),
                np.array([d in hol for d in fut], dtype=bool),
            ),
            0.0,
        )

    model_list = list(models)
    backtest: dict[str, dict[str, dict[str, float]]] = {}
    scores: dict[str, float] = {}
    for model in model_list:
        errors: dict[int, list[tuple[float, float, float]]] = {}
        for fold in range(folds, 0, -1):
            upto = n_days - fold * 7
            if upto < 21:
                continue
            h = min(backtest_horizon_days, n_days - upto)
            pred_daily = run(model, upto, h)
            shares, _ = _profiles(
                series.contacts[day_index < upto], series.handle_seconds[day_index < upto],
                day_index[day_index < upto], weekdays[day_index < upto],
                slots[day_index < upto], upto, per_day, minutes,
            )  # fmt: skip
            for i in range(h):
                d = upto + i
                mask = day_index == d
                actual = series.contacts[mask]
                pred = pred_daily[i] * shares[day_weekdays[d], slots[mask] // minutes]
                week = i // 7 + 1
                ape = abs(pred_daily[i] - daily[d]) / daily[d] if daily[d] > 0 else np.nan
                errors.setdefault(week, []).append(
                    (float(np.abs(pred - actual).sum()), float(actual.sum()), float(ape))
                )
        if not errors:
            continue
        per_week = {}
        for week, rows in sorted(errors.items()):
            abs_err = sum(r[0] for r in rows)
            total = sum(r[1] for r in rows)
            apes = [r[2] for r in rows if not np.isnan(r[2])]
            per_week[f"week {week}"] = {
                "wape": abs_err / total if total > 0 else 0.0,
                "mape": float(np.mean(apes)) if apes else 0.0,
            }
        backtest[model] = per_week
        scores[model] = float(np.mean([v["wape"] for v in per_week.values()]))
    chosen = min(scores, key=lambda m: scores[m]) if scores else "seasonal_naive"

    pred_daily = run(chosen, n_days, horizon_days) if n_days else np.zeros(horizon_days)
    if adjust is not None:
        pred_daily = pred_daily * np.array([adjust(d) for d in future_days])
    shares, aht_profile = _profiles(
        series.contacts, series.handle_seconds, day_index, weekdays, slots, n_days, per_day,
        minutes,
    )  # fmt: skip
    tz = series.tz
    first_local = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    f_start = first_local.astimezone(ZoneInfo("UTC"))
    f_end = datetime.combine(
        last + timedelta(days=horizon_days + 1), datetime.min.time(), tzinfo=tz
    ).astimezone(ZoneInfo("UTC"))
    count = int((f_end - f_start).total_seconds() // (minutes * 60))
    f_starts = interval_starts(f_start, count, minutes)
    f_days, f_wd, f_slots = _local_keys(f_starts, tz)
    f_pos = {d: i for i, d in enumerate(future_days)}
    contacts = np.zeros(count)
    for i, (f_day, w, s) in enumerate(zip(f_days, f_wd, f_slots, strict=True)):
        contacts[i] = pred_daily[f_pos[f_day]] * shares[w, s // minutes]
    aht = aht_profile[f_wd, f_slots // minutes] if count else np.zeros(0)
    return Forecast(
        start=f_start,
        interval_minutes=minutes,
        contacts=contacts,
        aht_seconds=np.asarray(aht, dtype=np.float64),
        model=chosen,
        backtest=backtest,
    )


def summary_row(fc: Forecast) -> dict[str, Any]:
    return {"model": fc.model, "backtest": fc.backtest}

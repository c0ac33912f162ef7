"""Queueing maths for staffing: Erlang C (M/M/n) and Erlang A (M/M/n+M, Palm), exact and vectorised.

Every function takes numpy arrays (or scalars, broadcast together) so that a month of 15-minute
intervals for many queues is one call. "Exact" means the closed forms are evaluated without
approximation, to double precision:

* Erlang B is ``B(n, A) = pmf(n; A) / cdf(n; A)`` of a Poisson(A) law, the cdf being the
  regularised upper incomplete gamma ``Q(n + 1, A)`` (``scipy.special.gammaincc``) and the pmf
  taken in log space, so 1,000+ calls an interval never overflow a factorial. Where the cdf is
  below double range (far fewer agents than Erlangs) the classic recursion
  ``B(k) = A B(k-1) / (k + A B(k-1))`` is run instead; the search for the required agents steps
  with that same recursion, which is exact.
* Erlang C is ``C = n B / (n - A (1 - B))``; service level ``1 - C exp(-(n - A) t / aht)``;
  ASA ``C aht / (n - A)``.
* Erlang A follows Garnett, Mandelbaum and Reiman (2002) and Mandelbaum and Zeltyn (2004): with
  ``x = n mu / theta`` and ``y = lambda / theta`` (``theta = 1 / patience``),
  ``A(x, y) = x e^y y^-x gamma(x, y)``, ``P(wait) = A B / (1 + (A - 1) B)``,
  ``P(abandon | wait) = 1 / (rho A) + 1 - 1 / rho`` and the mean wait ``P(abandon) / theta``.
  The service level is the share of *offered* contacts answered within ``t`` (abandons count as
  misses): ``1 - P(wait) + P(wait) (gamma(x+1, y) - gamma(x+1, y e^(-theta t))) / (y gamma(x, y))``.
  The lower incomplete gamma is kept in the scaled form ``S(a, z) = gamma(a, z) z^-a e^z`` (log
  space), from ``scipy.special.gammainc`` or, where that underflows, from its power series.

scipy is imported on first use, so importing this module (and starting the server) stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sportello.core.errors import InvalidInput
from sportello.core.i18n import gettext

Array = npt.NDArray[np.float64]
ArrayLike = Any  # float | int | sequence | ndarray

_TINY = 1e-280  # below this a regularised incomplete gamma is taken from its series instead


class UnstableQueue(InvalidInput):
    """The traffic is at or above the agents: with no abandonment the queue grows for ever."""


@dataclass(frozen=True)
class QueueMetrics:
    """The figures for one staffing, element by element (numpy arrays of one shape)."""

    agents: npt.NDArray[np.int64]  # productive agents (servers / concurrency) on the queue
    traffic: Array  # offered load in Erlangs (calls x aht / interval)
    service_level: Array  # share of offered contacts answered within the threshold
    asa: Array  # mean wait in seconds (Erlang A: of every offered contact)
    occupancy: Array  # share of the agents' time spent handling
    wait_probability: Array  # probability that a contact waits at all
    abandon_probability: Array  # Erlang A: share of contacts that hang up; 0 for Erlang C

    def row(self, i: int = 0) -> dict[str, float | int]:
        """One element as plain numbers (for JSON)."""
        flat = {k: np.ravel(getattr(self, k)) for k in self.__dataclass_fields__}
        return {k: (int(v[i]) if k == "agents" else float(v[i])) for k, v in flat.items()}


# --------------------------------------------------------------------------- special functions


def _special() -> Any:
    from scipy import special  # lazy: scipy costs ~0.1 s to import

    return special


def erlang_b(servers: ArrayLike, traffic: ArrayLike) -> Array:
    """Blocking probability of M/M/n/n, exact, for any array of ``servers`` and ``traffic``."""
    sp = _special()
    n, a = np.broadcast_arrays(
        np.asarray(servers, dtype=np.float64), np.asarray(traffic, dtype=np.float64)
    )
    out = np.ones(n.shape, dtype=np.float64)
    positive = a > 0
    out[~positive] = np.where(n[~positive] > 0, 0.0, 1.0)
    if not positive.any():
        return out
    nn, aa = n[positive], a[positive]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        cdf = sp.gammaincc(nn + 1.0, aa)
        log_pmf = nn * np.log(aa) - aa - sp.gammaln(nn + 1.0)
        b = np.exp(log_pmf - np.log(cdf))
    bad = ~(cdf > _TINY) | ~np.isfinite(b)
    if bad.any():
        b[bad] = _erlang_b_recursive(nn[bad], aa[bad])
    out[positive] = np.clip(b, 0.0, 1.0)
    return out


def _erlang_b_recursive(n: Array, a: Array) -> Array:
    """The textbook recursion from B(0) = 1, for the few points the closed form cannot take."""
    b = np.ones_like(a)
    top = int(n.max()) if n.size else 0
    for k in range(1, top + 1):
        step = k <= n
        b = np.where(step, a * b / (k + a * b), b)
    return b


def _log_scaled_lower_gamma(a: Array, z: Array) -> Array:
    """log S(a, z) with S(a, z) = gamma(a, z) z^-a e^z (a > 0, z > 0), without overflow.

    S(a, z) = sum_k z^k / (a (a+1) ... (a+k)); where scipy's regularised P(a, z) is representable
    it gives S = P Gamma(a) z^-a e^z, elsewhere (z well below a) the series converges fast."""
    sp = _special()
    with np.errstate(all="ignore"):  # not finite -> NaN -> the series below takes over
        p = sp.gammainc(a, z)
        out = np.log(p) + sp.gammaln(a) - a * np.log(z) + z
    small = ~(p > _TINY)
    if small.any():
        aa, zz = a[small], z[small]
        term = 1.0 / aa
        total = term.copy()
        for k in range(1, 100_000):
            term = term * zz / (aa + k)
            total += term
            if np.all(term <= total * 1e-17):
                break
        out[small] = np.log(total)
    result: Array = out
    return result


# --------------------------------------------------------------------------- metrics


def _inputs(
    calls: ArrayLike, aht: ArrayLike, interval: ArrayLike, *rest: ArrayLike
) -> tuple[Array, ...]:
    arrays = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (calls, aht, interval, *rest))
    )
    calls_, aht_, interval_ = arrays[:3]
    if np.any(calls_ < 0) or not np.all(np.isfinite(calls_)):
        raise InvalidInput(gettext("The number of contacts must be zero or more."), field="calls")
    if np.any(aht_ <= 0) or not np.all(np.isfinite(aht_)):
        raise InvalidInput(gettext("The handle time must be more than zero."), field="aht")
    if np.any(interval_ <= 0) or not np.all(np.isfinite(interval_)):
        raise InvalidInput(gettext("The interval must be more than zero."), field="interval")
    return tuple(np.array(x, dtype=np.float64) for x in arrays)


def _erlang_c_metrics(n: Array, a: Array, aht: Array, t: Array) -> tuple[Array, ...]:
    """(service level, asa, wait probability) of M/M/n for n > a > 0."""
    b = erlang_b(n, a)
    c = n * b / (n - a * (1.0 - b))
    with np.errstate(over="ignore", under="ignore"):
        sl = 1.0 - c * np.exp(-(n - a) * t / aht)
    asa = c * aht / (n - a)
    return np.clip(sl, 0.0, 1.0), asa, np.clip(c, 0.0, 1.0)


def _erlang_a_metrics(
    n: Array, calls: Array, aht: Array, interval: Array, t: Array, patience: Array
) -> tuple[Array, ...]:
    """(service level, mean wait, wait probability, abandon probability) of M/M/n+M, n >= 1."""
    lam = calls / interval
    theta = 1.0 / patience
    x = n / aht / theta
    y = lam / theta
    rho = lam * aht / n
    b = erlang_b(n, lam * aht)
    log_s = _log_scaled_lower_gamma(x, y)
    log_big_a = np.log(x) + log_s  # A(x, y) = x S(x, y)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        inv_a = np.exp(-log_big_a)
        # P(wait) = A B / (1 + (A - 1) B) = B / (1/A + B - B/A)
        wait = b / (inv_a + b - b * inv_a)
        wait = np.where(b > 0, wait, 0.0)
        abandon_given_wait = inv_a / rho + 1.0 - 1.0 / rho
        abandon = np.clip(wait * abandon_given_wait, 0.0, 1.0)
        mean_wait = abandon / theta
        # answered within t, given a wait:
        #   S(x+1, y) / S(x, y) - S(x+1, y') / S(x, y) e^{-(x+1) theta t + y (1 - e^{-theta t})}
        decay = np.exp(-theta * t)
        y_t = y * decay
        log_s1 = _log_scaled_lower_gamma(x + 1.0, y)
        first = np.exp(log_s1 - log_s)
        log_s1_t = _log_scaled_lower_gamma(x + 1.0, np.maximum(y_t, 1e-300))
        second = np.exp(log_s1_t - log_s - (x + 1.0) * theta * t + y * (1.0 - decay))
        answered_within = np.clip(first - second, 0.0, 1.0)
        sl = 1.0 - wait + wait * answered_within
    return np.clip(sl, 0.0, 1.0), mean_wait, np.clip(wait, 0.0, 1.0), abandon


def evaluate(
    *,
    calls: ArrayLike,
    aht: ArrayLike,
    interval: ArrayLike,
    agents: ArrayLike,
    answer_within: ArrayLike,
    patience: ArrayLike | None = None,
    concurrency: ArrayLike = 1,
    strict: bool = True,
) -> QueueMetrics:
    """Service level, ASA, occupancy and waiting probability for a given staffing.

    ``agents`` are productive agents (after shrinkage); each handles ``concurrency`` contacts at
    once (chat), ``aht`` being the handle time of one contact. ``patience`` (mean seconds before
    hanging up; ``inf`` or None: nobody hangs up) switches to Erlang A. Without abandonment an
    unstable queue (traffic >= agents) raises :class:`UnstableQueue` when ``strict``, else gives
    service level 0 and an infinite ASA."""
    pat = np.inf if patience is None else patience
    calls_, aht_, interval_, agents_, t_, pat_, conc_ = _inputs(
        calls, aht, interval, agents, answer_within, pat, concurrency
    )
    if np.any(agents_ < 0) or np.any(agents_ != np.floor(agents_)):
        raise InvalidInput(gettext("Agents must be a whole number, zero or more."), field="agents")
    if np.any(t_ < 0):
        raise InvalidInput(
            gettext("The answer time must be zero or more seconds."), field="answer_within"
        )
    if np.any(pat_ <= 0):
        raise InvalidInput(gettext("Patience must be more than zero seconds."), field="patience")
    if np.any(conc_ < 1) or np.any(conc_ != np.floor(conc_)):
        raise InvalidInput(
            gettext("Concurrency must be a whole number, one or more."), field="concurrency"
        )
    servers = agents_ * conc_
    traffic = calls_ * aht_ / interval_
    shape = traffic.shape
    sl = np.ones(shape)
    asa = np.zeros(shape)
    wait = np.zeros(shape)
    abandon = np.zeros(shape)
    busy = traffic > 0
    erlang_a = busy & np.isfinite(pat_)
    erlang_c = busy & ~np.isfinite(pat_)
    no_servers = busy & (servers == 0)
    unstable = erlang_c & (traffic >= servers)
    if strict and unstable.any():
        i = int(np.flatnonzero(unstable.ravel())[0])
        raise UnstableQueue(
            gettext(
                "Unstable queue: %(traffic).2f Erlangs of traffic need more than %(servers)d "
                "agents (traffic must stay below the agents, or give a patience for Erlang A).",
                traffic=float(traffic.ravel()[i]),
                servers=int(servers.ravel()[i]),
            ),
            field="agents",
        )
    sl[unstable | no_servers] = 0.0
    asa[unstable | no_servers] = np.inf
    wait[unstable | no_servers] = 1.0
    abandon[erlang_a & no_servers] = 1.0
    asa[erlang_a & no_servers] = pat_[erlang_a & no_servers]
    ok_c = erlang_c & ~unstable
    if ok_c.any():
        sl[ok_c], asa[ok_c], wait[ok_c] = _erlang_c_metrics(
            servers[ok_c], traffic[ok_c], aht_[ok_c], t_[ok_c]
        )
    ok_a = erlang_a & ~no_servers
    if ok_a.any():
        sl[ok_a], asa[ok_a], wait[ok_a], abandon[ok_a] = _erlang_a_metrics(
            servers[ok_a], calls_[ok_a], aht_[ok_a], interval_[ok_a], t_[ok_a], pat_[ok_a]
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        handled = traffic * (1.0 - abandon)
        occupancy = np.where(servers > 0, np.minimum(handled / np.maximum(servers, 1), 1.0), 0.0)
    return QueueMetrics(
        agents=agents_.astype(np.int64),
        traffic=traffic,
        service_level=sl,
        asa=asa,
        occupancy=occupancy,
        wait_probability=wait,
        abandon_probability=abandon,
    )


def required(
    *,
    calls: ArrayLike,
    aht: ArrayLike,
    interval: ArrayLike,
    target: ArrayLike,
    answer_within: ArrayLike,
    target_asa: ArrayLike | None = None,
    patience: ArrayLike | None = None,
    max_occupancy: ArrayLike = 1.0,
    concurrency: ArrayLike = 1,
) -> QueueMetrics:
    """The fewest productive agents meeting the service level (and ASA, if given) and keeping
    occupancy at or below ``max_occupancy``, with the figures for that staffing.

    Vectorised: every element is solved at once. Erlang C starts at the first stable staffing
    and steps up with the exact Erlang B recursion (a few dozen vector steps even at 1,000+
    Erlangs); Erlang A (finite patience) bisects, since service level grows with the agents."""
    pat = np.inf if patience is None else patience
    asa_goal = np.inf if target_asa is None else target_asa
    calls_, aht_, interval_, target_, t_, asa_, pat_, occ_, conc_ = _inputs(
        calls, aht, interval, target, answer_within, asa_goal, pat, max_occupancy, concurrency
    )
    if np.any(target_ <= 0) or np.any(target_ >= 1):
        raise InvalidInput(
            gettext("The service-level target must be between 0 and 1 (e.g. 0.8)."),
            field="target",
        )
    if np.any(occ_ <= 0) or np.any(occ_ > 1):
        raise InvalidInput(
            gettext("The maximum occupancy must be more than 0 and at most 1."),
            field="max_occupancy",
        )
    if np.any(t_ < 0):
        raise InvalidInput(
            gettext("The answer time must be zero or more seconds."), field="answer_within"
        )
    if np.any(asa_ <= 0):
        raise InvalidInput(gettext("The ASA target must be more than zero."), field="target_asa")
    if np.any(pat_ <= 0):
        raise InvalidInput(gettext("Patience must be more than zero seconds."), field="patience")
    if np.any(conc_ < 1) or np.any(conc_ != np.floor(conc_)):
        raise InvalidInput(
            gettext("Concurrency must be a whole number, one or more."), field="concurrency"
        )
    traffic = calls_ * aht_ / interval_
    servers = np.zeros(traffic.shape, dtype=np.float64)
    busy = traffic > 0
    # occupancy bound (servers >= traffic / max occupancy) is a floor for both models
    floor_occ = np.ceil(traffic / occ_ - 1e-9)

    c_mask = busy & ~np.isfinite(pat_)
    if c_mask.any():
        a = traffic[c_mask]
        n = np.maximum(np.floor(a) + 1.0, floor_occ[c_mask])
        aht_c, t_c, goal, goal_asa = aht_[c_mask], t_[c_mask], target_[c_mask], asa_[c_mask]
        b = erlang_b(n, a)
        result = np.empty_like(a)
        active = np.arange(a.size)
        while active.size:
            na, aa, ba = n[active], a[active], b[active]
            c = na * ba / (na - aa * (1.0 - ba))
            with np.errstate(under="ignore"):
                sl = 1.0 - c * np.exp(-(na - aa) * t_c[active] / aht_c[active])
            asa = c * aht_c[active] / (na - aa)
            met = (sl >= goal[active]) & (asa <= goal_asa[active])
            result[active[met]] = na[met]
            active = active[~met]
            # exact step: B(n+1) = A B(n) / (n + 1 + A B(n))
            n[active] += 1.0
            b[active] = a[active] * b[active] / (n[active] + a[active] * b[active])
        servers[c_mask] = result

    a_mask = busy & np.isfinite(pat_)
    if a_mask.any():
        idx = np.flatnonzero(a_mask.ravel())
        c_, h_, i_, t_a, p_ = (v.ravel()[idx] for v in (calls_, aht_, interval_, t_, pat_))
        goal, goal_asa = target_.ravel()[idx], asa_.ravel()[idx]
        occ_goal = occ_.ravel()[idx]
        lo = np.ones(idx.size)  # hang-ups keep the queue stable: fewer agents than Erlangs may do

        def ok(n: Array) -> npt.NDArray[np.bool_]:
            sl, mean_wait, _, abandon = _erlang_a_metrics(n, c_, h_, i_, t_a, p_)
            occupancy = c_ * h_ / i_ * (1.0 - abandon) / n
            result: npt.NDArray[np.bool_] = (
                (sl >= goal) & (mean_wait <= goal_asa) & (occupancy <= occ_goal + 1e-12)
            )
            return result

        hi = np.maximum(lo, np.ceil(traffic.ravel()[idx] + 3 * np.sqrt(traffic.ravel()[idx])) + 2)
        while True:
            fine = ok(hi)
            if fine.all():
                break
            hi = np.where(fine, hi, hi * 2)
        hi = np.where(ok(lo), lo, hi)  # invariant: ok(hi), and lo is not ok unless lo == hi
        while np.any(hi - lo > 1):
            open_ = hi - lo > 1
            mid = np.where(open_, np.floor((lo + hi) / 2), hi)
            fine = ok(mid)
            hi = np.where(open_ & fine, mid, hi)
            lo = np.where(open_ & ~fine, mid, lo)
        flat = servers.ravel()
        flat[idx] = hi
        servers = flat.reshape(traffic.shape)

    agents = np.ceil(servers / conc_)
    return evaluate(
        calls=calls_,
        aht=aht_,
        interval=interval_,
        agents=agents,
        answer_within=t_,
        patience=pat_,
        concurrency=conc_,
        strict=False,
    )


def with_shrinkage(agents: ArrayLike, shrinkage: ArrayLike) -> npt.NDArray[np.int64]:
    """Agents to schedule so that ``agents`` are productive after ``shrinkage`` (breaks, training,
    absence): ``ceil(agents / (1 - shrinkage))``."""
    s = np.asarray(shrinkage, dtype=np.float64)
    if np.any(s < 0) or np.any(s >= 1):
        raise InvalidInput(
            gettext("Shrinkage must be at least 0 and below 1 (e.g. 0.3)."), field="shrinkage"
        )
    result: npt.NDArray[np.int64] = np.ceil(
        np.asarray(agents, dtype=np.float64) / (1.0 - s) - 1e-9
    ).astype(np.int64)
    return result


def erlangs(calls: float, aht: float, interval: float) -> float:
    """Offered load in Erlangs."""
    return calls * aht / interval if interval > 0 else math.inf


# The largest offered load (Erlangs) a single question may ask about: 20,000 agents busy at once.
MAX_TRAFFIC = 20_000


# Below this many Erlangs a queue has no traffic worth the name (and floats lose their footing).
MIN_TRAFFIC = 1e-9


def answer(
    *,
    calls: float,
    aht: float,
    interval: float,
    answer_within: float,
    target: float = 0.8,
    agents: int | None = None,
    patience: float | None = None,
    shrinkage: float = 0.0,
    max_occupancy: float = 1.0,
    concurrency: int = 1,
    target_asa: float | None = None,
) -> dict[str, Any]:
    """One question, as the CLI and the REST API ask it: the agents required (or, with
    ``agents``, the figures for that staffing), with the agents to schedule after shrinkage."""
    with_shrinkage(0, shrinkage)  # validates shrinkage before any maths
    if interval > 0 and calls * aht / interval > MAX_TRAFFIC:
        # Far beyond any contact center, and a search that long would hold a worker.
        raise InvalidInput(
            gettext(
                "More than %(max)s Erlangs of traffic: check the calls, handle time and interval.",
                max=f"{MAX_TRAFFIC:,}",
            ),
            field="calls",
        )
    if calls * aht / interval < MIN_TRAFFIC:
        # Subnormal traffic (say 1e-307 calls) overflows the Erlang A sums into NaN: it is none.
        calls = 0.0
    if agents is None:
        metrics = required(
            calls=calls,
            aht=aht,
            interval=interval,
            target=target,
            answer_within=answer_within,
            target_asa=target_asa,
            patience=patience,
            max_occupancy=max_occupancy,
            concurrency=concurrency,
        )
        mode = "required"
    else:
        productive = int(np.floor(agents * (1.0 - shrinkage) + 1e-9))
        metrics = evaluate(
            calls=calls,
            aht=aht,
            interval=interval,
            agents=productive,
            answer_within=answer_within,
            patience=patience,
            concurrency=concurrency,
        )
        mode = "evaluate"
    row = metrics.row()
    scheduled = int(with_shrinkage(row["agents"], shrinkage)) if agents is None else agents
    return {
        "mode": mode,
        "model": "erlang_a" if patience is not None else "erlang_c",
        "agents": row["agents"],
        "scheduled_agents": scheduled,
        "traffic_erlangs": row["traffic"],
        "service_level": row["service_level"],
        "answer_within_seconds": answer_within,
        "asa_seconds": row["asa"],
        "occupancy": row["occupancy"],
        "wait_probability": row["wait_probability"],
        "abandon_probability": row["abandon_probability"],
        "meets_target": bool(row["service_level"] >= target)
        and (target_asa is None or row["asa"] <= target_asa),
    }

"""Erlang C / A against published vectors and a high-precision (mpmath) reference."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from sportello.workforce import erlang

mpmath.mp.dps = 60


# --------------------------------------------------------------------------- references


def ref_erlang_b(n: int, a: float) -> mpmath.mpf:
    a = mpmath.mpf(a)
    term = mpmath.mpf(1)
    total = mpmath.mpf(1)
    for k in range(1, n + 1):
        term = term * a / k
        total += term
    return term / total


def ref_erlang_c(n: int, a: float, aht: float, t: float) -> tuple[float, float, float]:
    b = ref_erlang_b(n, a)
    a_ = mpmath.mpf(a)
    c = n * b / (n - a_ * (1 - b))
    sl = 1 - c * mpmath.exp(-(n - a_) * mpmath.mpf(t) / aht)
    asa = c * aht / (n - a_)
    return float(sl), float(asa), float(c)


def ref_erlang_a(
    n: int,
    calls: float,
    aht: float,
    interval: float,
    t: float,
    patience: float,
    *,
    with_sl: bool = True,
) -> dict[str, float]:
    """M/M/n+M straight from its birth-death chain (no incomplete gammas): the stationary law of
    the number in system, and each waiting customer's fate from the hypoexponential law of the
    time until the q ahead of it have gone (rates n mu + k theta)."""
    lam = mpmath.mpf(calls) / interval
    mu = 1 / mpmath.mpf(aht)
    th = 1 / mpmath.mpf(patience)
    weights = [mpmath.mpf(1)]
    for j in range(1, n + 1):
        weights.append(weights[-1] * lam / (j * mu))
    q_weights = [weights[-1]]  # state n + q
    q = 0
    while True:
        q += 1
        q_weights.append(q_weights[-1] * lam / (n * mu + q * th))
        if q_weights[-1] < mpmath.mpf(10) ** -40 * q_weights[0] and q > 5:
            break
    total = sum(weights[:-1]) + sum(q_weights)
    wait = sum(q_weights) / total
    mean_queue = sum(k * w for k, w in enumerate(q_weights)) / total
    abandon = th * mean_queue / lam
    answered_within = mpmath.mpf(0)
    t_ = mpmath.mpf(t)
    for q, w in enumerate(q_weights if with_sl else []):  # arriving customer finds q ahead (PASTA)
        rates = [n * mu + k * th for k in range(q + 1)]
        # density of the sum of exponentials: sum_k C_k r_k e^{-r_k v}
        acc = mpmath.mpf(0)
        for k, rk in enumerate(rates):
            ck = mpmath.mpf(1)
            for j, rj in enumerate(rates):
                if j != k:
                    ck *= rj / (rj - rk)
            # P(V <= t and patience > V) = int_0^t C_k r_k e^{-r_k v} e^{-th v} dv
            acc += ck * rk * (1 - mpmath.exp(-(rk + th) * t_)) / (rk + th)
        answered_within += w / total * acc
    sl = (1 - wait) + answered_within
    return {
        "wait": float(wait),
        "abandon": float(abandon),
        "asa": float(mean_queue / lam),
        "sl": float(sl),
    }


# --------------------------------------------------------------------------- Erlang B / C


@pytest.mark.parametrize(
    ("n", "a"),
    [(1, 0.5), (5, 3.0), (14, 10.0), (50, 48.7), (1100, 1000.0), (4100, 4000.0), (30, 80.0)],
)
def test_erlang_b_matches_high_precision(n: int, a: float) -> None:
    got = float(erlang.erlang_b(n, a))
    assert got == pytest.approx(float(ref_erlang_b(n, a)), rel=1e-10)


def test_erlang_b_far_below_the_load_uses_the_recursion() -> None:
    # the Poisson cdf underflows: 10 servers for 2,000 Erlangs
    assert float(erlang.erlang_b(10, 2000.0)) == pytest.approx(
        float(ref_erlang_b(10, 2000.0)), rel=1e-12
    )


def test_pyworkforce_vectors() -> None:
    """pyworkforce 0.5.1, queuing/tests/test_erlang.py: 100 transactions in 30 min, AHT 3 min,
    answer within 0.33 min, 80% target, max occupancy 0.85, shrinkage 0.3."""
    r = erlang.required(
        calls=100, aht=180, interval=1800, target=0.8, answer_within=0.33 * 60, max_occupancy=0.85
    ).row()
    assert r["agents"] == 14
    assert int(erlang.with_shrinkage(r["agents"], 0.3)) == 20
    assert round(r["service_level"], 3) == 0.888
    assert round(r["occupancy"], 3) == 0.714
    assert round(r["wait_probability"], 3) == 0.174
    # over occupancy: max 0.7 forces 15 agents
    r = erlang.required(
        calls=100, aht=180, interval=1800, target=0.8, answer_within=0.33 * 60, max_occupancy=0.7
    ).row()
    assert r["agents"] == 15
    assert int(erlang.with_shrinkage(r["agents"], 0.3)) == 22
    assert round(r["service_level"], 3) == 0.941
    assert round(r["occupancy"], 3) == 0.667
    assert round(r["wait_probability"], 3) == 0.102


def test_textbook_example_asa() -> None:
    """The same call centre in the textbook walk-through of Erlang C (10 Erlangs, 14 agents,
    80/20): probability of waiting 17.4%, service level 88.8%, ASA 7.8 seconds."""
    r = erlang.evaluate(calls=100, aht=180, interval=1800, agents=14, answer_within=20).row()
    assert round(r["asa"], 1) == 7.8
    assert round(r["wait_probability"], 3) == 0.174
    assert round(r["service_level"], 3) == 0.888


@pytest.mark.parametrize(
    ("calls", "aht", "agents"),
    [(100, 180, 25), (1000, 300, 350), (4000, 225, 1030), (10000, 180, 2030), (12, 600, 9)],
)
def test_erlang_c_matches_high_precision_for_large_loads(
    calls: int, aht: float, agents: int
) -> None:
    got = erlang.evaluate(calls=calls, aht=aht, interval=900, agents=agents, answer_within=20).row()
    sl, asa, c = ref_erlang_c(agents, calls * aht / 900, aht, 20)
    assert got["service_level"] == pytest.approx(sl, rel=1e-9)
    assert got["asa"] == pytest.approx(asa, rel=1e-9)
    assert got["wait_probability"] == pytest.approx(c, rel=1e-9)


def test_required_is_the_smallest_meeting_the_target() -> None:
    calls = np.array([3, 40, 250, 1200, 5000])
    r = erlang.required(calls=calls, aht=200, interval=900, target=0.9, answer_within=15)
    below = erlang.evaluate(
        calls=calls, aht=200, interval=900, agents=r.agents - 1, answer_within=15, strict=False
    )
    assert np.all(r.service_level >= 0.9)
    assert np.all(below.service_level < 0.9)


def test_asa_target_and_zero_calls() -> None:
    r = erlang.required(
        calls=[0, 50], aht=300, interval=900, target=0.5, answer_within=60, target_asa=5
    )
    assert r.agents[0] == 0 and r.service_level[0] == 1.0
    assert r.asa[1] <= 5
    below = erlang.evaluate(
        calls=50, aht=300, interval=900, agents=r.agents[1] - 1, answer_within=60
    )
    assert below.asa[()] > 5 or below.service_level[()] < 0.5


def test_chat_concurrency_divides_the_servers() -> None:
    one = erlang.required(calls=120, aht=600, interval=900, target=0.8, answer_within=60)
    three = erlang.required(
        calls=120, aht=600, interval=900, target=0.8, answer_within=60, concurrency=3
    )
    assert int(three.agents) == math.ceil(int(one.agents) / 3)


def test_unstable_queue_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(erlang.UnstableQueue, match="Unstable queue"):
        erlang.evaluate(calls=100, aht=180, interval=1800, agents=10, answer_within=20)
    r = erlang.evaluate(
        calls=100, aht=180, interval=1800, agents=10, answer_within=20, strict=False
    )
    assert r.service_level[()] == 0.0 and math.isinf(r.asa[()])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"calls": -1}, "calls"),
        ({"aht": 0}, "aht"),
        ({"interval": 0}, "interval"),
        ({"target": 1.2}, "target"),
        ({"max_occupancy": 0}, "max_occupancy"),
        ({"patience": -3}, "patience"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict[str, float], field: str) -> None:
    args = {"calls": 10, "aht": 100, "interval": 900, "target": 0.8, "answer_within": 20}
    args.update(kwargs)
    with pytest.raises(erlang.InvalidInput) as info:
        erlang.required(**args)
    assert info.value.field == field


# --------------------------------------------------------------------------- Erlang A


@pytest.mark.parametrize(
    ("n", "calls", "aht", "t", "patience"),
    [
        (3, 20, 300, 20, 60),
        (5, 40, 180, 30, 120),
        (
            2,
            30,
            240,
            10,
            90,
        ),  # overloaded: traffic 8 Erlangs on 2 agents, stable thanks to hang-ups
        (8, 60, 200, 0, 300),
        (4, 10, 150, 60, 2000),  # patient callers: close to Erlang C
    ],
)
def test_erlang_a_matches_the_birth_death_chain(
    n: int, calls: float, aht: float, t: float, patience: float
) -> None:
    got = erlang.evaluate(
        calls=calls, aht=aht, interval=900, agents=n, answer_within=t, patience=patience
    ).row()
    ref = ref_erlang_a(n, calls, aht, 900, t, patience)
    assert got["wait_probability"] == pytest.approx(ref["wait"], rel=1e-9)
    assert got["abandon_probability"] == pytest.approx(ref["abandon"], rel=1e-9)
    assert got["asa"] == pytest.approx(ref["asa"], rel=1e-9)
    assert got["service_level"] == pytest.approx(ref["sl"], rel=1e-8)


def test_erlang_a_tends_to_erlang_c_as_patience_grows() -> None:
    c = erlang.evaluate(calls=300, aht=180, interval=900, agents=65, answer_within=20).row()
    a = erlang.evaluate(
        calls=300, aht=180, interval=900, agents=65, answer_within=20, patience=1e7
    ).row()
    assert a["service_level"] == pytest.approx(c["service_level"], rel=1e-4)
    assert a["wait_probability"] == pytest.approx(c["wait_probability"], rel=1e-4)


def test_erlang_a_large_load_and_required() -> None:
    r = erlang.required(
        calls=5000, aht=180, interval=900, target=0.8, answer_within=20, patience=120
    )
    below = erlang.evaluate(
        calls=5000, aht=180, interval=900, agents=r.agents - 1, answer_within=20, patience=120
    )
    assert r.service_level[()] >= 0.8 > below.service_level[()]
    # 1,000 Erlangs: the chain's stationary law in 60 digits agrees
    ref = ref_erlang_a(int(r.agents[()]), 5000, 180, 900, 20, 120, with_sl=False)
    assert r.wait_probability[()] == pytest.approx(ref["wait"], rel=1e-9)
    assert r.abandon_probability[()] == pytest.approx(ref["abandon"], rel=1e-9)
    assert r.asa[()] == pytest.approx(ref["asa"], rel=1e-9)
    # fewer agents than Erlang C needs: hang-ups shorten the queue
    c = erlang.required(calls=5000, aht=180, interval=900, target=0.8, answer_within=20)
    assert r.agents[()] <= c.agents[()]


@pytest.mark.parametrize(
    "kwargs",
    [  # found by randomized schemathesis and hypothesis: subnormal traffic overflowed into NaN
        {"calls": 5.9e-307, "aht": 41203, "interval": 31132, "answer_within": 42690, "agents": 3432,
         "patience": 1.0, "shrinkage": 0.27, "concurrency": 34, "target_asa": 1.0},
        {"calls": 5e-324, "aht": 74239, "interval": 49580, "answer_within": 81984,
         "patience": 62474, "shrinkage": 0.23, "max_occupancy": 0.45, "concurrency": 9},
        {"calls": 1.1e-308, "aht": 1.0, "interval": 60.0, "target": 0.47, "answer_within": 63998,
         "patience": 59721, "max_occupancy": 0.0001, "concurrency": 26, "target_asa": 59721},
    ],
)  # fmt: skip
def test_vanishing_traffic_answers_finite_numbers(kwargs: dict[str, float]) -> None:
    """The API documents numbers: NaN became ``null`` in the JSON (and NumPy warned, which
    ``-W error`` turns into a failure here)."""
    result = erlang.answer(**kwargs)  # type: ignore[arg-type]
    floats = {k: v for k, v in result.items() if isinstance(v, float)}
    assert floats and all(math.isfinite(v) for v in floats.values()), floats
    assert result["traffic_erlangs"] == 0.0

"""A canary judged against its baseline over the same minutes: a test on the figures, too little said as such."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.canary_verdict import error_rates, latencies


def test_an_error_rate_clearly_above_the_baselines_fails_with_its_p_value() -> None:
    judged = error_rates(50, 1000, 30, 1000)
    assert judged.outcome == "fail"
    assert judged.p_value == pytest.approx(0.0112, abs=0.0005)  # z = 0.02 / 0.00875 = 2.285
    assert "errors 5.000% new against 3.000% old" in judged.detail


def test_within_the_profiles_margin_is_a_pass() -> None:
    assert error_rates(50, 1000, 30, 1000, margin=0.02).outcome == "pass"
    assert error_rates(31, 1000, 30, 1000).outcome == "pass"


def test_no_errors_on_either_side_passes_and_too_few_requests_is_not_a_pass() -> None:
    assert error_rates(0, 500, 0, 500).outcome == "pass"
    too_few = error_rates(5, 40, 0, 4000)
    assert (too_few.outcome, too_few.p_value) == ("too_little", None)


def _exact_upper_tail(new: list[float], old: list[float]) -> float:
    """P(U >= observed U) over every way of splitting the points: the exact test, by brute force."""
    pooled = new + old

    def u_of(first: tuple[float, ...], second: list[float]) -> float:
        return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in first for b in second)

    observed = u_of(tuple(new), old)
    splits = list(itertools.combinations(range(len(pooled)), len(new)))
    at_least = 0
    for chosen in splits:
        first = tuple(pooled[i] for i in chosen)
        rest = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        at_least += u_of(first, rest) >= observed
    return at_least / len(splits)


@pytest.mark.parametrize(
    ("new", "old"),
    [
        ([120, 130, 125, 140, 150, 135], [100, 105, 110, 102, 108, 111]),
        ([101, 118, 104, 120, 109, 115], [100, 105, 110, 102, 108, 111]),
        ([99, 104, 107, 103, 112, 100], [100, 105, 110, 102, 108, 111]),
    ],
)
def test_the_latency_tests_p_value_is_close_to_the_exact_tests(new: list[float], old: list[float]) -> None:
    judged = latencies(new, old)
    assert judged.p_value is not None
    assert judged.p_value == pytest.approx(_exact_upper_tail(new, old), abs=0.03)


def test_slower_latencies_fail_and_a_shift_inside_the_margin_passes() -> None:
    old = [100.0, 105, 110, 102, 108, 111, 104, 99]
    slower = [value + 40 for value in old]
    assert latencies(slower, old).outcome == "fail"
    assert latencies([value + 10 for value in old], old, margin_ms=20).outcome == "pass"
    assert latencies(old, old).outcome == "pass"
    assert latencies([100.0] * 6, [100.0] * 6).outcome == "pass"  # every point tied
    assert latencies(slower[:3], old).outcome == "too_little"


_POINTS = st.lists(st.integers(min_value=50, max_value=400).map(float), min_size=5, max_size=30)


@settings(max_examples=60, deadline=None)
@given(new=_POINTS, old=_POINTS, seed=st.randoms(use_true_random=False))
def test_the_latency_verdict_does_not_depend_on_the_order_of_the_points(
    new: list[float], old: list[float], seed: random.Random
) -> None:
    judged = latencies(new, old, margin_ms=10)
    shuffled_new, shuffled_old = list(new), list(old)
    seed.shuffle(shuffled_new)
    seed.shuffle(shuffled_old)
    again = latencies(shuffled_new, shuffled_old, margin_ms=10)
    assert (again.outcome, again.p_value) == (judged.outcome, judged.p_value)


@settings(max_examples=60, deadline=None)
@given(
    minutes=st.lists(
        st.tuples(st.integers(0, 30), st.integers(30, 300), st.integers(0, 30), st.integers(30, 300)),
        min_size=1,
        max_size=20,
    ),
    seed=st.randoms(use_true_random=False),
)
def test_the_error_verdict_does_not_depend_on_the_order_of_the_minutes(
    minutes: list[tuple[int, int, int, int]], seed: random.Random
) -> None:
    """The counts are summed over the step's minutes: any order of the minutes gives the same verdict."""

    def judged(ordered: list[tuple[int, int, int, int]]) -> tuple[str, float | None]:
        sums = [sum(minute[i] for minute in ordered) for i in range(4)]
        verdict = error_rates(sums[0], sums[1], sums[2], sums[3], margin=0.001)
        return verdict.outcome, verdict.p_value

    shuffled = list(minutes)
    seed.shuffle(shuffled)
    assert judged(shuffled) == judged(minutes)


def test_a_clearly_worse_canary_fails_an_equal_one_passes_and_a_sparse_one_extends() -> None:
    """The three cases the analysis must tell apart, as a 10 % step of a canary sees them in some minutes."""
    worse = error_rates(new_errors=40, new_requests=200, old_errors=18, old_requests=1800, margin=0.001)
    equal = error_rates(new_errors=2, new_requests=200, old_errors=18, old_requests=1800, margin=0.001)
    sparse = error_rates(new_errors=4, new_requests=20, old_errors=18, old_requests=1800, margin=0.001)
    assert (worse.outcome, equal.outcome, sparse.outcome) == ("fail", "pass", "too_little")

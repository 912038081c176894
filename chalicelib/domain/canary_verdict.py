"""Whether a canary is worse than its baseline over the same minutes, by a test on the figures, not a threshold.

Error rates by a one-sided test on the counts (is the new revision's rate above the old one's by more than the
profile's margin?), latency by a one-sided Mann-Whitney U test over the per-minute points (Kayenta's choice:
no assumption about the distribution). Too little traffic to judge is said as such, never a pass. Pure
arithmetic (math.erf for the normal distribution): the stage that reads the figures decides what to do."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["pass", "fail", "too_little"]


@dataclass(frozen=True)
class Verdict:
    """A comparison's outcome, the test's p-value (None when there was too little to test), and its figures."""

    outcome: Outcome
    p_value: float | None
    detail: str


def _upper_tail(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def error_rates(
    new_errors: int,
    new_requests: int,
    old_errors: int,
    old_requests: int,
    margin: float = 0.0,
    alpha: float = 0.05,
    min_requests: int = 100,
) -> Verdict:
    """Is the new revision's error rate above the old one's by more than `margin` (absolute, e.g. 0.001 for a
    tenth of a percent)? A one-sided two-proportion z-test, each rate's own variance (the margin makes the
    pooled one wrong); each side needs `min_requests`."""
    if min(new_requests, old_requests) < min_requests:
        return Verdict(
            "too_little", None, f"{new_requests} requests to the new, {old_requests} to the old: {min_requests} each"
        )
    new_rate, old_rate = new_errors / new_requests, old_errors / old_requests
    said = f"errors {new_rate:.3%} new against {old_rate:.3%} old, margin {margin:.3%}"
    spread = new_rate * (1 - new_rate) / new_requests + old_rate * (1 - old_rate) / old_requests
    excess = new_rate - old_rate - margin
    # Nothing varies when neither side had an error (or every request failed on both): the excess decides.
    p_value = _upper_tail(excess / math.sqrt(spread)) if spread else (0.0 if excess > 0 else 1.0)
    return Verdict("fail" if p_value < alpha else "pass", p_value, f"{said}; p = {p_value:.4f}")


def latencies(
    new: Sequence[float],
    old: Sequence[float],
    margin_ms: float = 0.0,
    alpha: float = 0.05,
    min_points: int = 5,
) -> Verdict:
    """Are the new revision's latencies (a point a minute) above the old one's by more than `margin_ms`? A
    one-sided Mann-Whitney U test of `new - margin_ms` against `old`: average ranks for ties, the normal
    approximation with the tie correction and a continuity correction."""
    if min(len(new), len(old)) < min_points:
        return Verdict("too_little", None, f"{len(new)} points of the new, {len(old)} of the old: {min_points} each")
    shifted = [value - margin_ms for value in new]
    ranked = sorted([(value, 0) for value in shifted] + [(value, 1) for value in old])
    ranks: list[float] = [0.0] * len(ranked)
    ties: list[int] = []
    start = 0
    while start < len(ranked):
        end = start
        while end + 1 < len(ranked) and ranked[end + 1][0] == ranked[start][0]:
            end += 1
        for index in range(start, end + 1):
            ranks[index] = (start + end) / 2 + 1
        ties.append(end - start + 1)
        start = end + 1
    n1, n2 = len(shifted), len(old)
    rank_sum = sum(rank for rank, (_, side) in zip(ranks, ranked, strict=True) if side == 0)
    u = rank_sum - n1 * (n1 + 1) / 2
    total = n1 + n2
    variance = n1 * n2 / 12 * ((total + 1) - sum(t**3 - t for t in ties) / (total * (total - 1)))
    said = f"p50 {_median(new):.0f} ms new against {_median(old):.0f} ms old, margin {margin_ms:.0f} ms"
    if variance == 0:  # every point the same
        return Verdict("pass", 1.0, f"{said}; every point equal")
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    p_value = _upper_tail(z)
    return Verdict("fail" if p_value < alpha else "pass", p_value, f"{said}; U = {u:.1f}, p = {p_value:.4f}")


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2

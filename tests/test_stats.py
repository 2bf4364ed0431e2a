"""The statistics of the paired rule, the defaults in one place, and the shared formatters."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convbench.rules import FACTOR, PAIRED_FACTOR, Thresholds, Verdict
from convbench.stats import interval_rank, judge_paired, median_interval, min_rounds
from convbench.units import format_bytes, format_ratio, format_seconds


def coverage(n: int, k: int) -> float:
    """P(median in [x_(k), x_(n+1-k)]) for n values of any continuous distribution."""
    return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2**n


@pytest.mark.parametrize(("n", "k"), [(5, 0), (6, 1), (8, 1), (9, 2), (10, 2), (12, 3), (20, 6)])
def test_interval_rank_at_95(n, k):
    assert interval_rank(n, 0.95) == k


@given(st.integers(1, 60), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_interval_rank_is_the_tightest_that_covers(n, confidence):
    k = interval_rank(n, confidence)
    if k:
        assert coverage(n, k) >= confidence
    if k < n // 2:
        assert coverage(n, k + 1) < confidence


def test_min_rounds():
    assert min_rounds(0.95) == 6 and min_rounds(0.99) == 8 and min_rounds(0.9) == 5


finite = st.floats(-5, 5, allow_nan=False)


@given(st.lists(finite, min_size=1, max_size=40), st.sampled_from([0.9, 0.95]), st.randoms())
def test_median_interval_holds_the_median_and_ignores_order(values, confidence, rnd):
    low, high = median_interval(values, confidence)
    assert low <= float(np.median(values)) <= high
    shuffled = list(values)
    rnd.shuffle(shuffled)
    assert median_interval(shuffled, confidence) == (low, high)
    if interval_rank(len(values), confidence) == 0:
        assert (low, high) == (-math.inf, math.inf)


def test_median_interval_shrugs_off_one_wild_value():
    values = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99, 1.0, 50.0]
    assert median_interval(values, 0.95) == (0.99, 1.02)


positive = st.floats(1e-6, 1.0, allow_nan=False)


@given(
    st.lists(st.tuples(positive, st.floats(0.5, 2.0)), min_size=1, max_size=20),
    st.floats(1.01, 3.0),
    st.floats(1e-3, 1e3),
)
def test_judge_paired_is_symmetric_and_scale_free(pairs, factor, scale):
    base = [b for b, _ in pairs]
    head = [b * r for b, r in pairs]
    j = judge_paired(base, head, factor, 0.95)
    back = judge_paired(head, base, factor, 0.95)
    mirror = {Verdict.regressed: Verdict.improved, Verdict.improved: Verdict.regressed}
    assert back.verdict == mirror.get(j.verdict, j.verdict)
    assert back.ratio == pytest.approx(1 / j.ratio)
    scaled = judge_paired([b * scale for b in base], [h * scale for h in head], factor, 0.95)
    assert scaled.ratio == pytest.approx(j.ratio)
    # scaling rounds each time, which may move a ratio lying exactly on the factor across it
    if all(abs(abs(math.log(r)) - math.log(factor)) > 1e-9 for _, r in pairs):
        assert scaled.verdict == j.verdict
    if j.verdict is Verdict.regressed:
        assert j.low > factor and j.ratio > factor
    if j.verdict is Verdict.unchanged:
        assert 1 / factor <= j.ratio <= factor


def test_judge_paired_verdicts():
    base = [1.0] * 10
    slow = judge_paired(base, [1.2, 1.21, 1.19, 1.2, 1.22, 1.18, 1.2, 1.2, 1.21, 0.5], 1.05, 0.95)
    assert slow.verdict is Verdict.regressed and slow.rounds == 10, slow.reason
    fast = judge_paired(base, [0.8] * 10, 1.05, 0.95)
    assert fast.verdict is Verdict.improved
    same = judge_paired(base, [1.0, 1.01, 0.99] * 3 + [1.0], 1.05, 0.95)
    assert same.verdict is Verdict.unchanged
    wild = judge_paired(base, [1.2, 0.9, 1.3, 1.0, 1.25, 1.1, 0.95, 1.4, 1.15, 1.2], 1.05, 0.95)
    assert wild.verdict is Verdict.inconclusive and "reaches within" in wild.reason
    few = judge_paired(base[:5], [3.0] * 5, 1.05, 0.95)
    assert few.verdict is Verdict.inconclusive and "too few rounds (5)" in few.reason
    gaps = judge_paired([1.0, math.nan, 1.0, 0.0] + [1.0] * 6, [2.0] * 10, 1.05, 0.95)
    assert gaps.rounds == 8 and gaps.verdict is Verdict.regressed


def test_thresholds_for_mode():
    assert Thresholds.for_mode(paired=False).factor == FACTOR
    assert Thresholds.for_mode(paired=True).factor == PAIRED_FACTOR
    assert Thresholds.for_mode(paired=True, factor=3, time=None).factor == 3
    with pytest.raises(ValueError, match="unknown option"):
        Thresholds.for_mode(paired=True, speed=2)
    with pytest.raises(ValueError, match="confidence must be"):
        Thresholds.for_mode(paired=True, confidence=1.0)


def test_formatters():
    assert format_bytes(512) == "512 B" and format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 * 2**30) == "3.0 GiB" and format_bytes(math.nan, "n/a") == "n/a"
    assert format_bytes(None) == "" and format_bytes(2**41) == "2.0 TiB"
    assert format_seconds(2.5e-6) == "2.5 µs" and format_seconds(0.0123) == "12.30 ms"
    assert format_seconds(3.0) == "3.00 s" and format_seconds(math.nan) == ""
    assert format_ratio(1.23456) == "x1.235" and format_ratio(math.nan, "n/a") == "n/a"

"""The statistics behind every verdict: pure functions of arrays of seconds or bytes.

Nothing here reads a file or a row. Two rules live here:

* **stored comparison** (:func:`judge_times`): two sets of raw per-call samples, judged by the
  ratio of their medians and of their minimums against a factor, widened by the noise the cell
  showed between processes (:func:`needed_ratio`).
* **paired comparison** (:func:`judge_paired`): base and head measured in the same rounds, one
  fresh worker each per round; the per-round ratios head / base carry the noise of the host
  themselves, and a distribution-free interval of their median (:func:`median_interval`) must
  lie entirely beyond the factor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from .rules import DEFAULT_THRESHOLDS, Stat, Thresholds, TimeBasis, Verdict


def ratio(a: float, b: float) -> float:
    """``a / b``, nan unless ``b > 0``."""
    return float(a / b) if b > 0 else math.nan


def nan_to(x: object, default: float) -> float:
    """``float(x)``, or ``default`` when ``x`` is missing, not a number or nan."""
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return default if math.isnan(v) else v


def spread(samples: np.ndarray) -> float:
    """IQR / median of one sample set (0 for fewer than 2 samples)."""
    if samples.size < 2:
        return 0.0
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    return float((q3 - q1) / med) if med > 0 else math.inf


def between_run_spread(medians: np.ndarray) -> float:
    """How far one cell's median wanders between processes: slowest / fastest run.

    With five runs or more the slowest and the fastest run are left out first: a lone spike in
    one process is what the gate's confirmation rounds are for, while a cell that wanders
    between *most* processes needs a wider margin. nan with fewer than two runs.
    """
    medians = np.sort(medians[np.isfinite(medians) & (medians > 0)])
    if medians.size < 2:
        return math.nan
    if medians.size >= 5:
        medians = medians[1:-1]
    return float(medians[-1] / medians[0])


# --------------------------------------------------------------------------- stored comparison


@dataclass(frozen=True)
class TimeJudgement:
    """Outcome of :func:`judge_times`: a verdict, the ratio of medians and why."""

    verdict: Verdict
    ratio: float  # median current / median baseline (nan when not computable)
    min_ratio: float
    reason: str
    disturbed: bool = False
    p_value: float = math.nan


def judge_times(
    base: Iterable[float],
    current: Iterable[float],
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    base_wall_cpu: float = math.nan,
    current_wall_cpu: float = math.nan,
    base_spread: float = math.nan,
    host_load: float = math.nan,
    noisiness: tuple[float, float] | None = None,
) -> TimeJudgement:
    """Verdict on two sets of raw per-call times of the same cell.

    Parameters
    ----------
    base, current
        Raw per-call samples in seconds (one value per timed sample), any length.
    thresholds
        The rule; see :class:`convbench.rules.Thresholds`.
    base_wall_cpu, current_wall_cpu
        Median wall / median CPU of each side (nan when unknown).
    base_spread
        How far the same code wanders between processes in this cell: slowest / fastest median
        of the worker processes (either side) or of a baseline's runs (nan when unknown); widens
        the ratio needed for a change (:func:`needed_ratio`).
    host_load
        Cores other processes used while either side was timed (nan when unknown).
    noisiness
        IQR / median of each side *within* its processes; default: of all the samples pooled.

    Returns
    -------
    TimeJudgement
        ``regressed``/``improved``/``unchanged``, or ``inconclusive`` with the reason. Cost:
        O(n log n) in the number of samples (a percentile and, for ``mannwhitney``, a rank test).
    """
    b = np.asarray(list(base), dtype=float)
    c = np.asarray(list(current), dtype=float)
    b, c = b[np.isfinite(b)], c[np.isfinite(c)]
    t = thresholds
    if min(b.size, c.size) < t.min_samples:
        return TimeJudgement(
            Verdict.inconclusive,
            ratio(np.median(c), np.median(b)) if b.size and c.size else math.nan,
            math.nan,
            f"too few samples ({b.size} vs {c.size}, need {t.min_samples})",
        )
    median_ratio = ratio(np.median(c), np.median(b))
    min_ratio = ratio(c.min(), b.min())
    noisiest = max(noisiness) if noisiness is not None else max(spread(b), spread(c))
    if noisiest > t.max_spread:
        return TimeJudgement(
            Verdict.inconclusive,
            median_ratio,
            min_ratio,
            f"too noisy (IQR/median {noisiest:.0%} > {t.max_spread:.0%})",
        )

    p_value = math.nan
    needed = needed_ratio(t, base_spread)
    if t.stat is Stat.mannwhitney:
        from scipy.stats import mannwhitneyu  # imported lazily: only this rule needs scipy.stats

        p_value = float(mannwhitneyu(b, c, alternative="two-sided").pvalue)
    slower, faster = _moved(t, median_ratio, min_ratio, p_value, needed)
    if needed > t.factor and not (slower or faster):
        beyond_factor = _moved(t, median_ratio, min_ratio, p_value, t.factor)
        if any(beyond_factor):
            return TimeJudgement(
                Verdict.inconclusive,
                median_ratio,
                min_ratio,
                f"median x{median_ratio:.3f}, min x{min_ratio:.3f}: within this cell's own "
                f"noise (its processes span x{base_spread:.3f}; a change needs x{needed:.3f})",
                p_value=p_value,
            )

    if slower and nan_to(host_load, 0.0) > t.max_host_load:
        return TimeJudgement(
            Verdict.inconclusive,
            median_ratio,
            min_ratio,
            f"disturbed (other processes used {host_load:.1f} cores while timing, "
            f"> {t.max_host_load:g}): median x{median_ratio:.3f}",
            disturbed=True,
            p_value=p_value,
        )
    disturbed_by = max(nan_to(base_wall_cpu, 1.0), nan_to(current_wall_cpu, 1.0))
    disturbed = disturbed_by > t.max_wall_cpu
    # CPU time shrugs off a neighbour, so only a disturbed *regression* needs a second look;
    # wall time does not, so in wall mode any disturbed cell proves nothing.
    if disturbed and (slower or t.time is TimeBasis.wall):
        return TimeJudgement(
            Verdict.inconclusive,
            median_ratio,
            min_ratio,
            f"disturbed (wall/CPU {disturbed_by:.2f} > {t.max_wall_cpu})",
            disturbed=True,
            p_value=p_value,
        )
    verdict = Verdict.regressed if slower else Verdict.improved if faster else Verdict.unchanged
    reason = _explain(t, median_ratio, min_ratio, p_value, needed)
    return TimeJudgement(verdict, median_ratio, min_ratio, reason, False, p_value)


def needed_ratio(t: Thresholds, base_spread: float = math.nan) -> float:
    """The ratio a cell must move by to count as a change: ``max(factor, spread**noise_power)``.

    ``base_spread`` (slowest / fastest median over the baseline's runs, each in its own process)
    measures how far the *same* code wanders between processes in this cell on this machine. A
    power above 1 extrapolates that spread further, since a handful of runs rarely catches a
    cell's worst process (on a shared VM cells whose working set is near the shared L3 cache
    size wander by up to 1.9x).
    """
    if not (np.isfinite(base_spread) and base_spread > 1) or t.noise_power == 0:
        return t.factor
    return max(t.factor, float(base_spread) ** t.noise_power)


def _moved(
    t: Thresholds, median_ratio: float, min_ratio: float, p_value: float, needed: float
) -> tuple[bool, bool]:
    """(slower, faster) under the rule ``t.stat`` with ``needed`` as the factor."""
    if t.stat is Stat.min_median:
        return (
            median_ratio > needed and min_ratio > needed,
            median_ratio < 1 / needed and min_ratio < 1 / needed,
        )
    if t.stat is Stat.median:
        return median_ratio > needed, median_ratio < 1 / needed
    significant = p_value < t.alpha
    return median_ratio > needed and significant, median_ratio < 1 / needed and significant


def _explain(
    t: Thresholds, median_ratio: float, min_ratio: float, p_value: float, needed: float
) -> str:
    rule = f"factor {t.factor}" if needed <= t.factor else f"noise needs x{needed:.3f}"
    if t.stat is Stat.min_median:
        return f"median x{median_ratio:.3f}, min x{min_ratio:.3f} ({rule})"
    if t.stat is Stat.median:
        return f"median x{median_ratio:.3f} ({rule})"
    return f"median x{median_ratio:.3f}, p={p_value:.2g} ({rule}, alpha {t.alpha})"


def judge_memory(
    base_bytes: float, current_bytes: float, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> str:
    """``regressed``/``improved``/``unchanged`` for peak memory, or ``""`` when either is unknown.

    Regressed iff ``current > memory_factor * base`` AND ``current - base > memory_min_bytes``;
    improved symmetrically.
    """
    if not (np.isfinite(base_bytes) and np.isfinite(current_bytes)):
        return ""
    t = thresholds
    grew = current_bytes - base_bytes
    if grew > t.memory_min_bytes and current_bytes > t.memory_factor * base_bytes:
        return "regressed"
    if -grew > t.memory_min_bytes and base_bytes > t.memory_factor * current_bytes:
        return "improved"
    return "unchanged"


# --------------------------------------------------------------------------- paired comparison


@cache
def interval_rank(n: int, confidence: float) -> int:
    """The largest ``k`` such that ``[x_(k), x_(n+1-k)]`` covers the median with ``confidence``.

    The sign-test interval: whatever the distribution, the median lies below ``x_(k)`` with
    probability ``P(Binomial(n, 1/2) <= k - 1)``, and above ``x_(n+1-k)`` likewise. 0 when even
    ``[min, max]`` covers less than ``confidence`` (too few values). Cost: O(n).
    """
    best, below = 0, 0.0
    for k in range(1, n // 2 + 1):
        below += math.comb(n, k - 1) / 2**n  # P(B <= k - 1)
        if 1 - 2 * below < confidence:
            break
        best = k
    return best


def min_rounds(confidence: float) -> int:
    """Fewest values for which :func:`median_interval` is finite (6 at 95 %)."""
    n = 1
    while interval_rank(n, confidence) == 0:
        n += 1
    return n


def median_interval(values: Sequence[float], confidence: float) -> tuple[float, float]:
    """Distribution-free ``confidence`` interval of the median of ``values`` (order statistics).

    ``(-inf, inf)`` when there are too few values for that confidence (see :func:`min_rounds`).
    With 10 values at 95 % it is (2nd smallest, 2nd largest): one wild value on either side
    does not move it. Cost: a sort.
    """
    v = np.sort(np.asarray(values, dtype=float))
    k = interval_rank(int(v.size), confidence)
    if k == 0:
        return -math.inf, math.inf
    return float(v[k - 1]), float(v[v.size - k])


@dataclass(frozen=True)
class PairedJudgement:
    """Outcome of :func:`judge_paired`: verdict, median per-round ratio, its interval, why."""

    verdict: Verdict
    ratio: float  # median over rounds of head / base
    low: float  # the interval of that median
    high: float
    rounds: int  # rounds with a value on both sides
    reason: str


def judge_paired(
    base: Sequence[float], head: Sequence[float], factor: float, confidence: float
) -> PairedJudgement:
    """Verdict on one cell measured in paired rounds: ``base[i]`` and ``head[i]`` were taken in
    round ``i`` (each a fresh worker's median), under the same host conditions.

    The per-round ratios ``head[i] / base[i]`` are judged on a log scale: ``ratio`` is their
    median, ``[low, high]`` its :func:`median_interval`. Regressed when ``low > factor``,
    improved when ``high < 1 / factor``; a median beyond the factor whose interval reaches back
    inside it is inconclusive, as is a cell with too few rounds; the rest is unchanged.
    Rounds missing on either side (nan, <= 0) are dropped. Cost: O(rounds log rounds).
    """
    b = np.asarray(base, dtype=float)
    h = np.asarray(head, dtype=float)
    n_pairs = min(b.size, h.size)
    b, h = b[:n_pairs], h[:n_pairs]
    keep = np.isfinite(b) & np.isfinite(h) & (b > 0) & (h > 0)
    # log(h) - log(b), not log(h / b): swapping the sides then negates every log exactly, so
    # the verdict of (head, base) mirrors that of (base, head) even at the factor's edge.
    logs = np.log(h[keep]) - np.log(b[keep])
    n = int(logs.size)
    if n == 0:
        return PairedJudgement(Verdict.inconclusive, math.nan, math.nan, math.nan, 0, "no rounds")
    mid = float(np.exp(np.median(logs)))
    lo_log, hi_log = median_interval(logs, confidence)
    low, high = math.exp(lo_log), math.exp(hi_log)
    span = f"{confidence:.0%} interval x{low:.3f}..x{high:.3f} over {n} rounds"
    if interval_rank(n, confidence) == 0:
        need = min_rounds(confidence)
        return PairedJudgement(
            Verdict.inconclusive,
            mid,
            low,
            high,
            n,
            f"x{mid:.3f}: too few rounds ({n}) for a {confidence:.0%} interval (needs {need})",
        )
    edge, mid_log = math.log(factor), float(np.median(logs))
    if lo_log > edge:
        verdict, why = Verdict.regressed, f"x{mid:.3f}, {span} (factor {factor})"
    elif hi_log < -edge:
        verdict, why = Verdict.improved, f"x{mid:.3f}, {span} (factor {factor})"
    elif abs(mid_log) > edge:
        verdict = Verdict.inconclusive
        why = f"x{mid:.3f}, but the {span} reaches within factor {factor}"
    else:
        verdict, why = Verdict.unchanged, f"x{mid:.3f}, {span}"
    return PairedJudgement(verdict, mid, low, high, n, why)

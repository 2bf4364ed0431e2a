"""Compare two results CSVs cell by cell and decide what regressed.

The rule is built on what was measured on a shared 2-core machine, not on folklore:

* Noise *between processes* (1.5-2 % SD of the median, now and then +8-12 %) dominates the noise
  *within* one process, so a rank test over the repeats of one process finds any 3 % drift
  "significant" and adds nothing. The default rule (``min-median``) therefore asks for a ratio of
  **both the medians and the minimums** beyond ``factor`` (1.10): it gave no false alarm per cell
  over ~10,000 A/A pairs and caught >= 97 % of 15 % slowdowns.
* Single-threaded methods are compared on **CPU time** by default: it stays within a few % when a
  neighbour competes for the core, while wall time doubles. A cell whose wall/CPU ratio is far
  above 1 was *disturbed*: it is re-measured by the gate and never failed on.

Everything here is a pure function of DataFrames read by :func:`convbench.results.read_rows`, so it
is unit-tested on synthetic samples and reused by :mod:`convbench.gate`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import pandas as pd

from .cases import CASE_KEYS, Case
from .errors import ResultsError
from .results import ROW_KEY, parse_samples, read_meta, read_rows, row_key


class Stat(str, Enum):
    """How two sample sets are judged (see :func:`judge_times`)."""

    min_median = "min-median"  # ratio of medians AND ratio of minimums beyond the factor
    median = "median"  # ratio of medians beyond the factor
    mannwhitney = "mannwhitney"  # asv-style: ratio of medians beyond the factor AND p < alpha


class TimeBasis(str, Enum):
    """Which clock's samples are compared."""

    cpu = "cpu"  # process_time: robust to a neighbour on a 1-thread method
    wall = "wall"  # perf_counter: what a user waits for, doubles under contention


class Verdict(str, Enum):
    """Verdict of one (case, method) cell. Listed in report order: worst first."""

    broken = "broken"  # was ok, now wrong/error: always a failure
    regressed = "regressed"
    inconclusive = "inconclusive"  # too few samples, too noisy, or disturbed
    status_changed = "status-changed"  # e.g. ok -> skipped, skipped -> ok: reported, not failed
    missing = "missing"  # in the baseline, not in the current run
    new = "new"  # in the current run, not in the baseline
    improved = "improved"
    unchanged = "unchanged"
    not_timed = "not-timed"  # same non-ok status on both sides (e.g. skipped twice)


VERDICT_ORDER = {v.value: i for i, v in enumerate(Verdict)}
FAILING = frozenset({Verdict.broken.value, Verdict.regressed.value})


#: See :attr:`Thresholds.noise_power`; chosen with ``benchmarks/gate_quality.py`` (README).
NOISE_POWER = 1.5


@dataclass(frozen=True)
class Thresholds:
    """Every knob of the verdict rule, with the defaults the evidence supports.

    Attributes
    ----------
    factor
        A time ratio beyond ``factor`` (or below ``1/factor``) is a change.
    stat
        Which statistic must exceed ``factor`` (:class:`Stat`).
    time
        Which clock to compare (:class:`TimeBasis`).
    alpha
        Significance level of the Mann-Whitney test (``stat="mannwhitney"`` only; asv uses 0.002,
        which needs >= 6 samples per side to be reachable at all).
    min_samples
        Fewer samples than this on either side is inconclusive.
    max_spread
        IQR / median above this on either side is inconclusive (too noisy).
    max_wall_cpu
        A median wall/CPU ratio above this means the process was disturbed.
    noise_power
        A cell whose worker processes disagree (:func:`process_spread` of either side, or
        :func:`between_run_spread` of a baseline of several runs) must also move by more than
        ``spread ** noise_power``: a cell that wanders by 40 % between processes of the *same*
        code cannot show a 10 % regression. 0 turns this off. See :func:`needed_ratio`.
    max_host_load
        Other processes using more than this many cores while either side was timed (the row's
        ``host_load``) make a regression inconclusive: a neighbour that competes for memory
        bandwidth and cache slows this process's CPU time too, so the run cannot tell.
    host_probe
        Each row carries the time of a fixed probe workload run around its samples
        (``probe_s``). When the current side's probe ran slower than the baseline's (the host
        was slower for everyone: another VM, a shared cache), that slow-down explains part of
        a regression: it must exceed ``needed`` times the probe's ratio, else it is
        inconclusive; an improvement likewise when the baseline's probe was the slow one.
    memory_factor, memory_min_bytes
        Peak memory regresses when it grows by more than ``memory_factor`` AND by more than
        ``memory_min_bytes`` (small buffers jitter by allocator rounding).
    """

    factor: float = 1.10
    stat: Stat = Stat.min_median
    time: TimeBasis = TimeBasis.cpu
    alpha: float = 0.002
    min_samples: int = 5
    max_spread: float = 0.25
    max_wall_cpu: float = 1.5
    noise_power: float = NOISE_POWER
    max_host_load: float = 0.5
    host_probe: bool = True
    memory_factor: float = 1.05
    # RSS counters move in per-CPU batches of up to 64 pages (256 KiB a CPU): smaller changes of
    # peak_bytes are noise (seen here: 256 KiB -> 408 KiB between two runs of the same code).
    memory_min_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if not self.factor > 1:
            raise ValueError(f"factor must be > 1, got {self.factor}")
        if not self.memory_factor > 1:
            raise ValueError(f"memory_factor must be > 1, got {self.memory_factor}")
        if not self.noise_power >= 0:
            raise ValueError(f"noise_power must be >= 0, got {self.noise_power}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        object.__setattr__(self, "stat", Stat(self.stat))
        object.__setattr__(self, "time", TimeBasis(self.time))


@dataclass(frozen=True)
class TimeJudgement:
    """Outcome of :func:`judge_times`: a verdict, the ratio of medians and why."""

    verdict: Verdict
    ratio: float  # median current / median baseline (nan when not computable)
    min_ratio: float
    reason: str
    disturbed: bool = False
    p_value: float = math.nan


def spread(samples: np.ndarray) -> float:
    """IQR / median of one sample set (0 for fewer than 2 samples)."""
    if samples.size < 2:
        return 0.0
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    return float((q3 - q1) / med) if med > 0 else math.inf


def judge_times(
    base: Iterable[float],
    current: Iterable[float],
    thresholds: Thresholds = Thresholds(),
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
        The rule; see :class:`Thresholds`.
    base_wall_cpu, current_wall_cpu
        Median wall / median CPU of each side (nan when unknown).
    base_spread
        How far the same code wanders between processes in this cell: slowest / fastest median
        of the worker processes (either side) or of a baseline's runs (nan when unknown); widens
        the ratio needed for a change (:func:`needed_ratio`).
    host_load
        Cores other processes used while either side was timed (nan when unknown).
    noisiness
        IQR / median of each side *within* its processes (:func:`within_spread`); default: of
        all the samples pooled.

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
            _ratio(np.median(c), np.median(b)) if b.size and c.size else math.nan,
            math.nan,
            f"too few samples ({b.size} vs {c.size}, need {t.min_samples})",
        )
    ratio = _ratio(np.median(c), np.median(b))
    min_ratio = _ratio(c.min(), b.min())
    noisiest = max(noisiness) if noisiness is not None else max(spread(b), spread(c))
    if noisiest > t.max_spread:
        return TimeJudgement(
            Verdict.inconclusive,
            ratio,
            min_ratio,
            f"too noisy (IQR/median {noisiest:.0%} > {t.max_spread:.0%})",
        )

    p_value = math.nan
    needed = needed_ratio(t, base_spread)
    if t.stat is Stat.mannwhitney:
        from scipy.stats import mannwhitneyu  # imported lazily: only this rule needs scipy.stats

        p_value = float(mannwhitneyu(b, c, alternative="two-sided").pvalue)
    slower, faster = _moved(t, ratio, min_ratio, p_value, needed)
    if needed > t.factor and not (slower or faster):
        beyond_factor = _moved(t, ratio, min_ratio, p_value, t.factor)
        if any(beyond_factor):
            return TimeJudgement(
                Verdict.inconclusive,
                ratio,
                min_ratio,
                f"median x{ratio:.3f}, min x{min_ratio:.3f}: within this cell's own noise "
                f"(its processes span x{base_spread:.3f}; a change needs x{needed:.3f})",
                p_value=p_value,
            )

    if slower and _nan_to(host_load, 0.0) > t.max_host_load:
        return TimeJudgement(
            Verdict.inconclusive,
            ratio,
            min_ratio,
            f"disturbed (other processes used {host_load:.1f} cores while timing, "
            f"> {t.max_host_load:g}): median x{ratio:.3f}",
            disturbed=True,
            p_value=p_value,
        )
    disturbed_by = max(_nan_to(base_wall_cpu, 1.0), _nan_to(current_wall_cpu, 1.0))
    disturbed = disturbed_by > t.max_wall_cpu
    # CPU time shrugs off a neighbour, so only a disturbed *regression* needs a second look;
    # wall time does not, so in wall mode any disturbed cell proves nothing.
    if disturbed and (slower or t.time is TimeBasis.wall):
        return TimeJudgement(
            Verdict.inconclusive,
            ratio,
            min_ratio,
            f"disturbed (wall/CPU {disturbed_by:.2f} > {t.max_wall_cpu})",
            disturbed=True,
            p_value=p_value,
        )
    verdict = Verdict.regressed if slower else Verdict.improved if faster else Verdict.unchanged
    return TimeJudgement(
        verdict, ratio, min_ratio, _explain(t, ratio, min_ratio, p_value, needed), False, p_value
    )


def needed_ratio(t: Thresholds, base_spread: float = math.nan) -> float:
    """The ratio a cell must move by to count as a change: ``max(factor, spread**noise_power)``.

    ``base_spread`` (slowest / fastest median over the baseline's runs, each in its own process)
    measures how far the *same* code wanders between processes in this cell on this machine. The
    cell is already compared with its slowest run; a power above 1 extrapolates that spread
    further, since a handful of runs rarely catches a cell's worst process (on this machine
    cells whose working set is near the shared L3 cache size wander by up to 1.9x).
    """
    if not (np.isfinite(base_spread) and base_spread > 1) or t.noise_power == 0:
        return t.factor
    return max(t.factor, float(base_spread) ** t.noise_power)


def _moved(
    t: Thresholds, ratio: float, min_ratio: float, p_value: float, needed: float
) -> tuple[bool, bool]:
    """(slower, faster) under the rule ``t.stat`` with ``needed`` as the factor."""
    if t.stat is Stat.min_median:
        return (
            ratio > needed and min_ratio > needed,
            ratio < 1 / needed and min_ratio < 1 / needed,
        )
    if t.stat is Stat.median:
        return ratio > needed, ratio < 1 / needed
    significant = p_value < t.alpha
    return ratio > needed and significant, ratio < 1 / needed and significant


def _explain(t: Thresholds, ratio: float, min_ratio: float, p_value: float, needed: float) -> str:
    rule = f"factor {t.factor}" if needed <= t.factor else f"noise needs x{needed:.3f}"
    if t.stat is Stat.min_median:
        return f"median x{ratio:.3f}, min x{min_ratio:.3f} ({rule})"
    if t.stat is Stat.median:
        return f"median x{ratio:.3f} ({rule})"
    return f"median x{ratio:.3f}, p={p_value:.2g} ({rule}, alpha {t.alpha})"


def judge_memory(
    base_bytes: float, current_bytes: float, thresholds: Thresholds = Thresholds()
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


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else math.nan


def _nan_to(x: object, default: float) -> float:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return default if math.isnan(v) else v


# --------------------------------------------------------------------------- whole files


@dataclass
class Comparison:
    """Verdicts of every cell plus the sweep-wide summary.

    ``cells`` has one row per (case, method) with ``ROW_KEY`` columns, ``verdict``, ``memory``
    (verdict on peak memory), ``ratio`` (median current / baseline), ``min_ratio``,
    ``base_spread`` and ``needed`` (see :func:`needed_ratio`), ``disturbed``, ``failed`` and
    ``reason``, sorted worst first.
    """

    cells: pd.DataFrame
    thresholds: Thresholds
    geomean: float
    fastest_changes: pd.DataFrame
    environment: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Whether any cell regressed (time or memory) or broke."""
        return bool(self.cells["failed"].any())

    def count(self, verdict: str) -> int:
        return int((self.cells["verdict"] == verdict).sum())

    def flagged_keys(self) -> set[tuple]:
        """Keys of the cells a confirmation pass should re-measure: regressed or disturbed."""
        c = self.cells
        mask = (
            (c["verdict"] == Verdict.regressed.value)
            | c["disturbed"]
            | (c["memory"] == "regressed")
        )
        return {row_key(r) for r in c[mask].to_dict("records")}


def check_compatible(
    base: pd.DataFrame, current: pd.DataFrame, base_name: str, current_name: str
) -> None:
    """Raise :class:`ResultsError` when two results cannot be compared at all."""
    for df, name in ((base, base_name), (current, current_name)):
        if df.empty:
            raise ResultsError(f"{name}: results file has no rows")
    schemas_b, schemas_c = set(base["schema"].astype(int)), set(current["schema"].astype(int))
    if schemas_b != schemas_c:
        raise ResultsError(
            f"{current_name}: results schema {sorted(schemas_c)} differs from the baseline's "
            f"{sorted(schemas_b)}; re-make the baseline with this convbench"
        )
    overlap = _keys(base) & _keys(current)
    if not overlap:
        raise ResultsError(
            f"{base_name} and {current_name} share no (case, method) cell: "
            "the sweeps do not overlap"
        )


def _keys(df: pd.DataFrame) -> set[tuple]:
    return {row_key(r) for r in df[list(ROW_KEY)].to_dict("records")}


def _by_key(df: pd.DataFrame) -> dict[tuple, dict]:
    # A later row of the same cell wins (a resumed or re-measured run appends).
    return {row_key(r): r for r in df.to_dict("records")}


def compare_frames(
    base: pd.DataFrame,
    current: pd.DataFrame,
    thresholds: Thresholds = Thresholds(),
    *,
    base_meta: Mapping | None = None,
    current_meta: Mapping | None = None,
    base_name: str = "baseline",
    current_name: str = "current",
    typical_wall_cpu: tuple[float, float] | None = None,
) -> Comparison:
    """Verdict of every (case, method) cell of two results tables.

    Parameters
    ----------
    base, current
        DataFrames as returned by :func:`convbench.results.read_rows`.
    thresholds
        The rule (:class:`Thresholds`).
    base_meta, current_meta
        The sidecars, for the environment check (may be empty).
    typical_wall_cpu
        The usual wall/CPU ratio of each side's run (default: the median over its ``ok`` rows).
        On CPU time a cell is disturbed when its ratio is ``max_wall_cpu`` times its run's usual
        one: a steady neighbour barely moves CPU time, a burst during one cell does. A re-measure
        of a few cells passes the first pass's figures here, since a few rows have no "usual".

    Raises
    ------
    ResultsError
        Empty tables, different schemas, or no cell in common.
    """
    check_compatible(base, current, base_name, current_name)
    b_rows, c_rows = _by_key(base), _by_key(current)
    typical = typical_wall_cpu or (usual_wall_cpu(base), usual_wall_cpu(current))
    records = []
    for key in sorted(b_rows.keys() | c_rows.keys(), key=str):
        records.append(_judge_cell(key, b_rows.get(key), c_rows.get(key), thresholds, typical))
    cells = sort_cells(pd.DataFrame.from_records(records))
    return Comparison(
        cells=cells,
        thresholds=thresholds,
        geomean=geometric_mean(cells),
        fastest_changes=fastest_changes(base, current, thresholds.time),
        environment=environment_differences(base_meta or {}, current_meta or {}),
    )


def sort_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Worst first (failures, then by verdict), largest ratio first within a verdict."""
    order = cells["verdict"].map(VERDICT_ORDER) - 2 * cells["failed"].astype(int)
    order -= cells["memory"].eq("regressed").astype(int)
    ranked = cells.assign(_order=order, _ratio=cells["ratio"].astype(float))
    ranked = ranked.sort_values(["_order", "_ratio"], ascending=[True, False], kind="stable")
    return ranked.drop(columns=["_order", "_ratio"]).reset_index(drop=True)


def geometric_mean(cells: pd.DataFrame) -> float:
    """Geometric mean of the median-time ratios of cells ``ok`` on both sides (nan if none)."""
    ratios = cells.loc[cells["both_ok"], "ratio"].astype(float)
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    return float(np.exp(np.log(ratios).mean())) if len(ratios) else math.nan


def _as_list(value: object) -> list[float]:
    """A sample column as read by ``read_rows`` (a list) or as written (space-separated text)."""
    if isinstance(value, str):
        return parse_samples(value)
    return list(value or [])  # type: ignore[call-overload]


def _samples(row: Mapping, basis: TimeBasis) -> tuple[list[float], str]:
    cpu, wall = _as_list(row.get("cpu_samples_s")), _as_list(row.get("samples_s"))
    if basis is TimeBasis.cpu:
        return (cpu, "") if cpu else (wall, "no CPU samples: wall time compared")
    return wall, ""


def _by_process(row: Mapping, basis: TimeBasis) -> list[list[float]]:
    samples, _ = _samples(row, basis)
    owners = _as_list(row.get("sample_process"))
    if len(owners) != len(samples):
        return [samples] if samples else []
    by: dict[int, list[float]] = {}
    for owner, sample in zip(owners, samples, strict=True):
        by.setdefault(int(owner), []).append(sample)
    return list(by.values())


def within_spread(row: Mapping, basis: TimeBasis = TimeBasis.cpu) -> float:
    """IQR / median of one row's samples within each process, the median over its processes.

    How noisy one process's samples are; the noise *between* processes is
    :func:`process_spread`'s, so a row whose processes disagree is not also called too noisy.
    """
    parts = [np.asarray(p) for p in _by_process(row, basis) if len(p) >= 2]
    if not parts:
        return spread(np.asarray(_samples(row, basis)[0], dtype=float))
    return float(np.median([spread(p) for p in parts]))


def _shared(row: Mapping) -> bool:
    """Whether the row was measured while another convbench measured (``--shared-machine``)."""
    from .locks import SHARED_NOTE

    return SHARED_NOTE in str(row.get("reason") or "")


def process_spread(row: Mapping, basis: TimeBasis = TimeBasis.cpu) -> float:
    """Slowest / fastest per-process *fastest call* of one row (nan with < 2 processes).

    The noise *between* processes of one run, as the verdict sees it. Noise on a shared machine
    only ever adds time, so each process's fastest call is close to the method's true cost
    unless a slow period covered that whole process; when the processes' fastest calls still
    disagree, a second run may move by as much. Computed from the raw samples and their
    ``sample_process`` on ``basis``; falls back to the row's ``process_spread`` column.
    """
    floors = [min(p) for p in _by_process(row, basis) if p]
    if len(floors) < 2:
        return _nan_to(row.get("process_spread"), math.nan)
    return max(floors) / min(floors) if min(floors) > 0 else math.nan


def _wall_cpu(row: Mapping) -> float:
    ratio = _nan_to(row.get("wall_cpu_ratio"), math.nan)
    if math.isnan(ratio):
        wall, cpu = (
            _nan_to(row.get("time_median_s"), math.nan),
            _nan_to(row.get("cpu_median_s"), math.nan),
        )
        ratio = wall / cpu if cpu > 0 else math.nan
    return ratio


def usual_wall_cpu(df: pd.DataFrame) -> float:
    """Median wall/CPU ratio over the ``ok`` rows of a run (1.0 when unknown)."""
    ratios = [_wall_cpu(r) for r in df[df["status"] == "ok"].to_dict("records")]
    ratios = [r for r in ratios if np.isfinite(r) and r > 0]
    return float(np.median(ratios)) if ratios else 1.0


def _judge_cell(
    key: tuple,
    b: Mapping | None,
    c: Mapping | None,
    t: Thresholds,
    typical: tuple[float, float] = (1.0, 1.0),
) -> dict:
    out: dict[str, object] = dict(zip(ROW_KEY, key, strict=True))
    out.update(
        family=(c or b or {}).get("family", ""),
        base_status=b["status"] if b else "",
        status=c["status"] if c else "",
        ratio=math.nan,
        min_ratio=math.nan,
        base_median_s=math.nan,
        median_s=math.nan,
        base_peak_bytes=math.nan,
        peak_bytes=math.nan,
        base_spread=math.nan,
        needed=math.nan,
        memory="",
        disturbed=False,
        both_ok=False,
        reason="",
    )
    if b is None or c is None:
        out["verdict"] = Verdict.new.value if b is None else Verdict.missing.value
        out["reason"] = "only in the current run" if b is None else "not in the current run"
        out["failed"] = False
        return out
    bs, cs = b["status"], c["status"]
    if bs != "ok" or cs != "ok":
        if bs == "ok" and cs in ("wrong", "error"):
            verdict = Verdict.broken
            reason = f"ok -> {cs}: {c.get('reason') or 'no reason given'}"
        elif bs == cs:
            verdict, reason = Verdict.not_timed, f"{cs} in both"
        else:
            verdict = Verdict.status_changed
            reason = f"{bs} -> {cs}" + (f": {c.get('reason')}" if c.get("reason") else "")
        out.update(verdict=verdict.value, reason=reason, failed=verdict is Verdict.broken)
        return out

    b_samples, note_b = _samples(b, t.time)
    c_samples, note_c = _samples(c, t.time)
    # Wall time is only meaningful on an idle core: judge its disturbance in absolute terms.
    # CPU time survives a steady neighbour, so only a cell far above its run's usual level counts.
    scale_b, scale_c = (1.0, 1.0) if t.time is TimeBasis.wall else typical
    spreads = (b.get("base_spread"), process_spread(b, t.time), process_spread(c, t.time))
    base_spread = max((_nan_to(x, math.nan) for x in spreads), key=lambda x: _nan_to(x, 0.0))
    host_load = max(_nan_to(b.get("host_load"), 0.0), _nan_to(c.get("host_load"), 0.0))
    judgement = judge_times(
        b_samples,
        c_samples,
        t,
        base_wall_cpu=_wall_cpu(b) / max(scale_b, 1.0),
        current_wall_cpu=_wall_cpu(c) / max(scale_c, 1.0),
        base_spread=base_spread,
        host_load=host_load,
        noisiness=(within_spread(b, t.time), within_spread(c, t.time)),
    )
    probe_ratio = _ratio(_nan_to(c.get("probe_s"), math.nan), _nan_to(b.get("probe_s"), math.nan))
    probe_ratio = probe_ratio if np.isfinite(probe_ratio) else 1.0
    needed = needed_ratio(t, base_spread)
    # A host that was slower for everyone explains a change up to the probe's own slow-down.
    moved = (judgement.ratio, judgement.min_ratio)
    slow_host = t.host_probe and (
        (judgement.verdict is Verdict.regressed and min(moved) <= needed * probe_ratio)
        or (judgement.verdict is Verdict.improved and max(moved) >= probe_ratio / needed)
    )
    if slow_host:
        side = "current" if probe_ratio > 1 else "baseline"
        judgement = TimeJudgement(
            Verdict.inconclusive,
            judgement.ratio,
            judgement.min_ratio,
            f"disturbed (the host ran a fixed probe x{max(probe_ratio, 1 / probe_ratio):.2f} "
            f"slower while the {side} run measured this cell): median x{judgement.ratio:.3f}",
            disturbed=True,
            p_value=judgement.p_value,
        )
    if judgement.verdict is Verdict.regressed and (_shared(b) or _shared(c)):
        judgement = TimeJudgement(
            Verdict.inconclusive,
            judgement.ratio,
            judgement.min_ratio,
            f"disturbed (measured while another convbench measured): median x{judgement.ratio:.3f}",
            disturbed=True,
            p_value=judgement.p_value,
        )
    memory = judge_memory(
        _nan_to(b.get("peak_bytes"), math.nan), _nan_to(c.get("peak_bytes"), math.nan), t
    )
    reason = "; ".join(
        s
        for s in (
            judgement.reason,
            note_b or note_c,
            f"memory {memory}" if memory == "regressed" else "",
        )
        if s
    )
    out.update(
        verdict=judgement.verdict.value,
        ratio=judgement.ratio,
        min_ratio=judgement.min_ratio,
        base_median_s=float(np.median(b_samples)) if b_samples else math.nan,
        median_s=float(np.median(c_samples)) if c_samples else math.nan,
        base_peak_bytes=_nan_to(b.get("peak_bytes"), math.nan),
        peak_bytes=_nan_to(c.get("peak_bytes"), math.nan),
        base_spread=base_spread,
        needed=needed,
        memory=memory,
        disturbed=judgement.disturbed,
        both_ok=True,
        reason=reason,
        failed=judgement.verdict is Verdict.regressed or memory == "regressed",
    )
    return out


def fastest_changes(
    base: pd.DataFrame, current: pd.DataFrame, basis: TimeBasis = TimeBasis.cpu
) -> pd.DataFrame:
    """Every case whose fastest ``ok`` method differs between the two tables.

    Only methods ``ok`` on both sides compete, so a method added or dropped does not count as a
    change of winner; dispatchers (family ``auto``) do not compete, since they repeat the method
    they pick. Returns columns ``case`` (label), ``base_fastest``, ``fastest``.
    """
    column = "cpu_median_s" if basis is TimeBasis.cpu else "time_median_s"

    def winners(df: pd.DataFrame, allowed: set[tuple]) -> dict[tuple, str]:
        ok = df[(df["status"] == "ok") & (df["family"] != "auto")].copy()
        ok["_time"] = pd.to_numeric(ok[column], errors="coerce")
        if basis is TimeBasis.cpu:  # fall back to wall time where a row has no CPU time
            ok["_time"] = ok["_time"].fillna(pd.to_numeric(ok["time_median_s"], errors="coerce"))
        ok = ok[[row_key(r) in allowed for r in ok.to_dict("records")]].dropna(subset=["_time"])
        out = {}
        for case, group in ok.groupby(list(CASE_KEYS), sort=True):
            out[tuple(case)] = str(group.loc[group["_time"].idxmin(), "method"])
        return out

    def ok_keys(df: pd.DataFrame) -> set[tuple]:
        return {row_key(r) for r in df[df["status"] == "ok"].to_dict("records")}

    shared = ok_keys(base) & ok_keys(current)
    wb, wc = winners(base, shared), winners(current, shared)
    rows = [
        {
            "case": Case.from_key(dict(zip(CASE_KEYS, k, strict=True))).label(),
            "base_fastest": wb[k],
            "fastest": wc[k],
        }
        for k in sorted(wb.keys() & wc.keys(), key=str)
        if wb[k] != wc[k]
    ]
    return pd.DataFrame(rows, columns=["case", "base_fastest", "fastest"])


# --------------------------------------------------------------------------- environment

#: Sidecar keys that differ between any two runs and say nothing about comparability.
_VOLATILE = (
    "time",
    "start",
    "end",
    "finished",
    "duration",
    "elapsed",
    "commit",
    "git",
    "host",
    "filepath",
    "path",
    "argv",
    "output",
    "pid",
    "user",
    "hash",
    "config",
    "methods",  # compared cell by cell instead
    "interrupted",
    "baseline_runs",  # how the baseline was made, not where
)


def _flatten(meta: object, prefix: str = "") -> dict[str, str]:
    if isinstance(meta, Mapping):
        out: dict[str, str] = {}
        for k, v in meta.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if (
        isinstance(meta, list)
        and meta
        and all(isinstance(x, Mapping) and "internal_api" in x for x in meta)
    ):
        # threadpoolctl's threadpool_info(): one line per pool, without the install path.
        pools = sorted(
            f"{p.get('user_api', '?')}:{p.get('internal_api', '?')} {p.get('version', '?')} "
            f"threads={p.get('num_threads', '?')}"
            for p in meta
        )
        return {prefix.rstrip("."): "; ".join(pools)}
    if isinstance(meta, list):
        return {prefix.rstrip("."): ", ".join(map(str, meta))}
    return {prefix.rstrip("."): str(meta)}


def environment_differences(
    base_meta: Mapping, current_meta: Mapping
) -> list[tuple[str, str, str]]:
    """``(key, baseline value, current value)`` for every comparability-relevant sidecar difference.

    CPU model, core and thread counts, BLAS/FFT backends (``threadpool_info``) and library versions
    are compared; timestamps, paths, commits and the config (compared through the cells) are not.
    A key present on one side only is reported with ``"(absent)"`` on the other.
    """
    if not base_meta or not current_meta:
        return []
    fb, fc = _flatten(base_meta), _flatten(current_meta)
    diffs = []
    for key in sorted(fb.keys() | fc.keys()):
        leaf = key.lower()
        if any(word in leaf for word in _VOLATILE):
            continue
        vb, vc = fb.get(key, "(absent)"), fc.get(key, "(absent)")
        if vb != vc:
            diffs.append((key, vb, vc))
    return diffs


# --------------------------------------------------------------------------- files and rendering


def baseline_envelope(
    frames: Sequence[pd.DataFrame], basis: TimeBasis = TimeBasis.cpu
) -> pd.DataFrame:
    """One baseline from several runs of the same sweep, each made by a separate process.

    Per cell it keeps the row of the *slowest* ``ok`` run (largest median on ``basis``), with the
    largest ``peak_bytes`` of any run, and adds ``base_spread``: slowest / fastest median over
    the ``ok`` runs (nan with fewer than two), which :func:`needed_ratio` turns into the ratio a
    change of that cell must exceed. Cells without an ``ok`` run keep their first row.

    Why: on this kind of machine a cell's speed moves between processes far more than within
    one (up to 1.9x for memory-bound methods, with the machine quiet), so a one-process baseline
    that happened to be fast makes every later run look slower. Against the slowest of several
    processes, a run must be slower than anything the old code showed to count as a regression.

    frames : results tables (``results.read_rows``); one frame is returned unchanged.
    """
    if len(frames) == 1:
        return frames[0]
    column = "cpu_median_s" if basis is TimeBasis.cpu else "time_median_s"
    rows: dict[tuple, dict] = {}
    for df in frames:
        for r in df.to_dict("records"):
            key, kept = row_key(r), rows.get(row_key(r))
            if kept is None or (r["status"] == "ok" and _slower(r, kept, column)):
                rows[key] = r
    table = pd.DataFrame(list(rows.values()), columns=frames[0].columns)
    runs = pd.concat([df.assign(key_=[row_key(r) for r in df.to_dict("records")]) for df in frames])
    # Memory likewise: the largest peak any baseline run showed.
    peaks = pd.to_numeric(runs["peak_bytes"], errors="coerce").groupby(runs["key_"]).max()
    ok = runs[runs["status"] == "ok"]
    medians = pd.to_numeric(ok[column], errors="coerce").groupby(ok["key_"])
    spreads = medians.agg(lambda m: between_run_spread(m.to_numpy(float)))
    table["peak_bytes"] = [peaks.get(row_key(r), np.nan) for r in table.to_dict("records")]
    table["base_spread"] = [spreads.get(row_key(r), np.nan) for r in table.to_dict("records")]
    return table


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


def _slower(row: Mapping, kept: Mapping, column: str) -> bool:
    if kept["status"] != "ok":
        return True
    return _nan_to(row[column], -math.inf) > _nan_to(kept[column], -math.inf)


def read_baseline(
    paths: str | os.PathLike | Sequence[str | os.PathLike], basis: TimeBasis = TimeBasis.cpu
) -> tuple[pd.DataFrame, dict, str]:
    """``(table, sidecar, name)`` of a baseline made of one or several runs of one sweep.

    Several runs are combined by :func:`baseline_envelope`; they must come from the same config
    (sidecar ``config_hash``), else :class:`ResultsError`.
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise ResultsError("no baseline results given")
    metas = [read_meta(p) for p in paths]
    hashes = {m.get("config_hash") for m in metas} - {None}
    if len(hashes) > 1:
        raise ResultsError(
            f"{', '.join(map(str, paths))}: baseline runs come from different configs"
        )
    table = baseline_envelope([read_rows(p) for p in paths], basis)
    name = str(paths[0]) if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} runs)"
    return table, {**metas[0], "baseline_runs": len(paths)}, name


def compare_files(
    base_path: str | os.PathLike | Sequence[str | os.PathLike],
    current_path: str | os.PathLike,
    thresholds: Thresholds = Thresholds(),
) -> Comparison:
    """Read a baseline (one CSV, or several runs: :func:`read_baseline`) and a current CSV and
    compare them; :class:`ResultsError` on bad input."""
    base, base_meta, base_name = read_baseline(base_path, thresholds.time)
    return compare_frames(
        base,
        read_rows(current_path),
        thresholds,
        base_meta=base_meta,
        current_meta=read_meta(current_path),
        base_name=base_name,
        current_name=str(current_path),
    )


def cell_label(cell: Mapping) -> str:
    """``method @ case label`` of one verdict row."""
    from .cases import Case

    return f"{cell['method']} @ {Case.from_key(dict(cell)).label()}"


def headline(comparison: Comparison) -> str:
    """One line: FAIL/PASS, counts of the verdicts that matter, geometric mean of the ratios."""
    c = comparison
    n_fail = int(c.cells["failed"].sum())
    counts = ", ".join(
        f"{c.count(v.value)} {v.value}"
        for v in Verdict
        if c.count(v.value) and v is not Verdict.not_timed
    )
    state = f"FAIL: {n_fail} cell(s) regressed or broke" if c.failed else "PASS: no regression"
    return f"{state} ({counts}); geometric mean of time ratios x{c.geomean:.3f}"


ENVIRONMENT_ADVICE = (
    "Absolute times from different machines or library builds are not comparable. Make the "
    "baseline on the CI machine itself: run "
    "`convbench run configs/ci.yaml -o results/baseline/ci.csv` in the CI job (the workflow's "
    "manual run with refresh-baseline does this) and keep that file as the baseline."
)


def _fmt_ratio(x: float) -> str:
    return "" if not np.isfinite(x) else f"x{x:.3f}"


def _fmt_bytes(x: float) -> str:
    if not np.isfinite(x):
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(x) < 1024 or unit == "GiB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return ""  # pragma: no cover


def table_rows(comparison: Comparison, *, show_all: bool = False) -> list[list[str]]:
    """Rows of the verdict table (worst first): verdict, cell, ratio, min ratio, memory, reason.

    ``unchanged`` and ``not-timed`` cells are left out unless ``show_all``.
    """
    quiet = {Verdict.unchanged.value, Verdict.not_timed.value}
    rows = []
    for cell in comparison.cells.to_dict("records"):
        confirmation = cell.get("confirmation") or ""
        if (
            not show_all
            and cell["verdict"] in quiet
            and cell["memory"] != "regressed"
            and not confirmation
        ):
            continue
        memory = cell["memory"] if cell["memory"] != "unchanged" else ""
        if memory:
            before, after = _fmt_bytes(cell["base_peak_bytes"]), _fmt_bytes(cell["peak_bytes"])
            memory = f"{memory} ({before} -> {after})"
        rows.append(
            [
                cell["verdict"],
                cell_label(cell),
                _fmt_ratio(cell["ratio"]),
                _fmt_ratio(cell["min_ratio"]),
                memory,
                f"{confirmation}: {cell['reason']}" if confirmation else str(cell["reason"]),
            ]
        )
    return rows


TABLE_HEADER = ["verdict", "cell", "median", "min", "memory", "why"]


def to_markdown(
    comparison: Comparison, *, title: str = "convbench compare", show_all: bool = False
) -> str:
    """The comparison as GitHub-flavoured markdown (for ``$GITHUB_STEP_SUMMARY``)."""
    c = comparison
    t = c.thresholds
    lines = [f"## {title}", "", f"**{headline(c)}**", ""]
    widened = int((c.cells["needed"].astype(float) > t.factor).sum())
    noise = (
        f" ({widened} cell(s) whose baseline runs disagree need more: their spread ** "
        f"{t.noise_power:g})"
        if widened
        else ""
    )
    lines.append(
        f"Rule: `{t.stat.value}` on {t.time.value} time, factor {t.factor}{noise}; memory "
        f"factor {t.memory_factor} and > {t.memory_min_bytes // 1024} KiB."
    )
    if c.environment:
        lines += ["", "> [!WARNING]", "> **The environments differ** - " + ENVIRONMENT_ADVICE, ">"]
        lines += ["> | key | baseline | current |", "> |---|---|---|"]
        lines += [f"> | {k} | {_md(vb)} | {_md(vc)} |" for k, vb, vc in c.environment]
    rows = table_rows(c, show_all=show_all)
    lines += [""]
    if rows:
        lines += ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
        lines += ["| " + " | ".join(_md(x) for x in row) + " |" for row in rows]
    else:
        lines += ["Every matched cell is unchanged."]
    if len(c.fastest_changes):
        lines += [
            "",
            "### Fastest method changed",
            "",
            "| case | baseline | current |",
            "|---|---|---|",
        ]
        lines += [
            f"| {_md(r['case'])} | {r['base_fastest']} | {r['fastest']} |"
            for r in c.fastest_changes.to_dict("records")
        ]
    return "\n".join(lines) + "\n"


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")

"""Cell by cell: match two results tables on (case, method) and give every cell a verdict.

Two ways to judge the time of a cell, both from the rows alone:

* **stored** (:func:`compare_frames`): a baseline made earlier (one run or several) and a current
  run, each row's raw samples judged by :func:`convbench.stats.judge_times`, with the checks that
  a run on a shared machine needs (disturbed host, noise between processes).
* **paired** (:func:`compare_paired`): the two sides were measured in the same rounds by
  ``gate --base`` (round ``i`` of a base row was taken beside round ``i`` of the head row), and
  :func:`convbench.stats.judge_paired` judges the per-round ratios.

Status changes, memory, the fastest method per case and the environment are judged the same
way in both. Rendering lives in :mod:`convbench.render`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .cases import CASE_KEYS, Case
from .envdiff import environment_differences
from .errors import ResultsError
from .fastest import ALLOCATOR, fastest
from .results import DEFAULT_ALLOCATOR, ROW_KEY, parse_samples, read_meta, read_rows, row_key
from .rules import DEFAULT_THRESHOLDS, VERDICT_ORDER, Thresholds, TimeBasis, Verdict
from .stats import (
    TimeJudgement,
    between_run_spread,
    judge_memory,
    judge_paired,
    judge_times,
    needed_ratio,
    spread,
)
from .stats import nan_to as _nan_to
from .stats import ratio as _ratio

# --------------------------------------------------------------------------- whole files


@dataclass
class Comparison:
    """Verdicts of every cell plus the sweep-wide summary.

    ``cells`` has one row per (case, method) with ``ROW_KEY`` columns, ``verdict``, ``memory``
    (verdict on peak memory), ``ratio`` (median current / baseline; paired: median per-round
    ratio), ``min_ratio``, ``low`` and ``high`` (paired: the interval of ``ratio``), ``rounds``,
    ``base_spread`` and ``needed`` (see :func:`convbench.stats.needed_ratio`), ``disturbed``,
    ``failed`` and ``reason``, sorted worst first. ``paired`` says which rule judged the times.
    """

    cells: pd.DataFrame
    thresholds: Thresholds
    geomean: float
    fastest_changes: pd.DataFrame
    environment: list[tuple[str, str, str]] = field(default_factory=list)
    paired: bool = False

    def __repr__(self) -> str:
        from .render import headline

        return f"<Comparison of {len(self.cells)} cells: {headline(self)}>"

    def _repr_markdown_(self) -> str:  # Jupyter shows this: the report of `convbench compare`
        from .render import to_markdown

        return to_markdown(self)

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
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
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


def compare_paired(
    base: pd.DataFrame,
    head: pd.DataFrame,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    base_meta: Mapping | None = None,
    head_meta: Mapping | None = None,
    base_name: str = "base",
    head_name: str = "head",
) -> Comparison:
    """Verdict of every cell of two results tables measured in paired rounds (``gate --base``).

    Worker process ``i`` of a base row (its ``sample_process``) ran in the same round as
    process ``i`` of the head row, beside it or right before or after it. The time verdict comes
    from the per-round medians (:func:`round_medians`) by :func:`convbench.stats.judge_paired`
    with ``thresholds.factor`` and ``thresholds.confidence``; statuses, memory and the fastest
    method per case as in :func:`compare_frames`. No disturbance rules: a slow period of the
    host falls on both sides of a round.

    Raises
    ------
    ResultsError
        Empty tables, different schemas, or no cell in common.
    """
    check_compatible(base, head, base_name, head_name)
    b_rows, h_rows = _by_key(base), _by_key(head)
    records = [
        _judge_paired_cell(key, b_rows.get(key), h_rows.get(key), thresholds)
        for key in sorted(b_rows.keys() | h_rows.keys(), key=str)
    ]
    cells = sort_cells(pd.DataFrame.from_records(records))
    return Comparison(
        cells=cells,
        thresholds=thresholds,
        geomean=geometric_mean(cells),
        fastest_changes=fastest_changes(base, head, thresholds.time),
        environment=environment_differences(base_meta or {}, head_meta or {}),
        paired=True,
    )


def paired_with(base_meta: Mapping, current_meta: Mapping) -> bool:
    """Whether two sidecars are the base and the head of one paired measurement."""
    b, c = base_meta.get("paired"), current_meta.get("paired")
    return (
        isinstance(b, Mapping)
        and isinstance(c, Mapping)
        and bool(b.get("id"))
        and b.get("id") == c.get("id")
        and (b.get("side"), c.get("side")) == ("base", "head")
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


def round_medians(row: Mapping, basis: TimeBasis = TimeBasis.cpu) -> list[float]:
    """Median sample of each worker process of a row, in process order (0, 1, ...).

    In a paired run the process index is the round. Missing processes (a round numbering with
    gaps) read nan, so that rounds stay aligned with the other side's.
    """
    samples, _ = _samples(row, basis)
    owners = [int(o) for o in _as_list(row.get("sample_process"))]
    if len(owners) != len(samples):
        return [float(np.median(samples))] if samples else []
    by: dict[int, list[float]] = {}
    for owner, sample in zip(owners, samples, strict=True):
        by.setdefault(owner, []).append(sample)
    if not by:
        return []
    return [float(np.median(by[i])) if i in by else math.nan for i in range(max(by) + 1)]


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


def _cell_record(key: tuple, b: Mapping | None, c: Mapping | None) -> dict:
    """The verdict row of a cell, filled as far as statuses go: ``verdict`` is set when the
    statuses alone decide (one side absent, or not ``ok`` on both), else left out."""
    out: dict[str, object] = dict(zip(ROW_KEY, key, strict=True))
    out.update(
        family=(c or b or {}).get("family", ""),
        base_status=b["status"] if b else "",
        status=c["status"] if c else "",
        ratio=math.nan,
        min_ratio=math.nan,
        low=math.nan,
        high=math.nan,
        rounds=0,
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


def _memory_of(b: Mapping, c: Mapping, t: Thresholds) -> tuple[str, float, float]:
    """(memory verdict, base peak, current peak) of two ``ok`` rows."""
    before = _nan_to(b.get("peak_bytes"), math.nan)
    after = _nan_to(c.get("peak_bytes"), math.nan)
    return judge_memory(before, after, t), before, after


def _judge_paired_cell(key: tuple, b: Mapping | None, h: Mapping | None, t: Thresholds) -> dict:
    out = _cell_record(key, b, h)
    if "verdict" in out:
        return out
    assert b is not None and h is not None  # both present and ok, or the statuses decided
    b_rounds, h_rounds = round_medians(b, t.time), round_medians(h, t.time)
    j = judge_paired(b_rounds, h_rounds, t.factor, t.confidence)
    memory, before, after = _memory_of(b, h, t)
    memory_note = f"memory {memory}" if memory == "regressed" else ""
    reason = "; ".join(s for s in (j.reason, memory_note) if s)
    out.update(
        verdict=j.verdict.value,
        ratio=j.ratio,
        low=j.low,
        high=j.high,
        rounds=j.rounds,
        base_median_s=float(np.median(b_rounds)) if b_rounds else math.nan,
        median_s=float(np.median(h_rounds)) if h_rounds else math.nan,
        base_peak_bytes=before,
        peak_bytes=after,
        memory=memory,
        both_ok=True,
        reason=reason,
        failed=j.verdict is Verdict.regressed or memory == "regressed",
    )
    return out


def _judge_cell(
    key: tuple,
    b: Mapping | None,
    c: Mapping | None,
    t: Thresholds,
    typical: tuple[float, float] = (1.0, 1.0),
) -> dict:
    out = _cell_record(key, b, c)
    if "verdict" in out:
        return out
    assert b is not None and c is not None  # both present and ok, or the statuses decided
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
    # A host that was slower for everyone explains the share of a change that cells take of
    # the probe's slow-down (rules.PROBE_POWER), not all of it: the probe swings more than they do.
    explained = probe_ratio**t.probe_power
    moved = (judgement.ratio, judgement.min_ratio)
    slow_host = t.probe_power > 0 and (
        (judgement.verdict is Verdict.regressed and min(moved) <= needed * explained)
        or (judgement.verdict is Verdict.improved and max(moved) >= explained / needed)
    )
    if slow_host:
        side = "current" if probe_ratio > 1 else "baseline"
        judgement = TimeJudgement(
            Verdict.inconclusive,
            judgement.ratio,
            judgement.min_ratio,
            f"disturbed (the host ran a fixed probe x{max(probe_ratio, 1 / probe_ratio):.2f} "
            f"slower while the {side} run measured this cell, which explains up to "
            f"x{max(explained, 1 / explained) * needed:.3f}): median x{judgement.ratio:.3f}",
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
    memory, before, after = _memory_of(b, c, t)
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
        base_peak_bytes=before,
        peak_bytes=after,
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
    """Every cell whose fastest method (:func:`convbench.fastest.fastest`) differs between the
    two tables, where both tables decide it.

    Only methods ``ok`` on both sides compete, so a method added or dropped does not count as a
    change of winner; a cell tied on either side (the runner-up within the noise) is no change
    either, since a second run could name either method. Returns columns ``case`` (label, with
    the allocator when it is not the default), ``base_fastest``, ``fastest``.
    """
    shared = _ok_keys(base) & _ok_keys(current)
    cpu = basis is TimeBasis.cpu
    wb, wc = (_decided_winners(df, shared, cpu) for df in (base, current))
    rows = [
        {"case": _cell_label(k), "base_fastest": wb[k], "fastest": wc[k]}
        for k in sorted(wb.keys() & wc.keys(), key=str)
        if wb[k] != wc[k]
    ]
    return pd.DataFrame(rows, columns=["case", "base_fastest", "fastest"])


def _ok_keys(df: pd.DataFrame) -> set[tuple]:
    return {row_key(r) for r in df[df["status"] == "ok"].to_dict("records")}


def _decided_winners(df: pd.DataFrame, allowed: set[tuple], cpu: bool) -> dict[tuple, str]:
    """(case keys..., allocator) -> the method named, for the decided cells of ``df``'s rows
    whose key is in ``allowed``."""
    rows = df[[row_key(r) in allowed for r in df.to_dict("records")]]
    cells = fastest(rows, cpu=cpu)
    cells = cells[cells["decided"]]
    keys = cells[[*CASE_KEYS, ALLOCATOR]].itertuples(index=False, name=None)
    return dict(zip(keys, cells["method"], strict=True))


def _cell_label(key: tuple) -> str:
    label = Case.from_key(dict(zip(CASE_KEYS, key[:-1], strict=True))).label()
    return label if key[-1] == DEFAULT_ALLOCATOR else f"{label} ({key[-1]} allocator)"


# --------------------------------------------------------------------------- baselines and files


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
    return combine_baseline(_read_runs(paths), basis)


#: One run as compared: its rows (``read_rows``), its sidecar and the name messages give it.
Run = tuple[pd.DataFrame, Mapping, str]


def _read_runs(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Run]:
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise ResultsError("no baseline results given")
    return [(read_rows(p), read_meta(p), str(p)) for p in paths]


def combine_baseline(
    runs: Sequence[Run], basis: TimeBasis = TimeBasis.cpu
) -> tuple[pd.DataFrame, dict, str]:
    """:func:`read_baseline` of runs already read."""
    if not runs:
        raise ResultsError("no baseline results given")
    names = [name for _, _, name in runs]
    hashes = {meta.get("config_hash") for _, meta, _ in runs} - {None}
    if len(hashes) > 1:
        raise ResultsError(f"{', '.join(names)}: baseline runs come from different configs")
    table = baseline_envelope([df for df, _, _ in runs], basis)
    name = names[0] if len(runs) == 1 else f"{names[0]} (+{len(runs) - 1} runs)"
    return table, {**runs[0][1], "baseline_runs": len(runs)}, name


def compare_files(
    base_path: str | os.PathLike | Sequence[str | os.PathLike],
    current_path: str | os.PathLike,
    thresholds: Thresholds | None = None,
    **options: object,
) -> Comparison:
    """Read a baseline (one CSV, or several runs: :func:`read_baseline`) and a current CSV and
    compare them (:func:`compare_runs`); :class:`ResultsError` on bad input."""
    base_runs = _read_runs(base_path)
    current = (read_rows(current_path), read_meta(current_path), str(current_path))
    return compare_runs(base_runs, current, thresholds, **options)


def compare_runs(
    base_runs: Sequence[Run],
    current: Run,
    thresholds: Thresholds | None = None,
    **options: object,
) -> Comparison:
    """What ``convbench compare`` decides for runs already read (``(rows, sidecar, name)``).

    The base and the head of one ``gate --base`` (their sidecars say so) are compared with
    the paired rule (:func:`compare_paired`), any other pair with the stored one. Without
    ``thresholds`` the rule is :meth:`Thresholds.for_mode` of that mode with ``options``.
    """
    basis = thresholds.time if thresholds else TimeBasis(options.get("time") or TimeBasis.cpu)
    base, base_meta, base_name = combine_baseline(base_runs, basis)
    current_df, current_meta, current_name = current
    paired = base_meta.get("baseline_runs") == 1 and paired_with(base_meta, current_meta)
    if thresholds is None:
        try:
            thresholds = Thresholds.for_mode(paired=paired, **options)
        except ValueError as e:
            raise ResultsError(f"bad option: {e}") from None
    if paired:
        return compare_paired(
            base,
            current_df,
            thresholds,
            base_meta=base_meta,
            head_meta=current_meta,
            base_name=base_name,
            head_name=current_name,
        )
    return compare_frames(
        base,
        current_df,
        thresholds,
        base_meta=base_meta,
        current_meta=current_meta,
        base_name=base_name,
        current_name=current_name,
    )

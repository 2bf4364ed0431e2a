"""The fastest method of a cell: the one rule every command uses to name it.

A *cell* is one case (``CASE_KEYS``) under one allocator, plus any grouping columns the caller
adds (``machine``). :func:`fastest` gives, per cell, the fastest concrete method and whether the
cell is decided. ``compare``, ``plot``, ``report``, the claims, ``machines`` and the notebook's
``Results.fastest`` all read their winners from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from .cases import CASE_KEYS
from .results import DEFAULT_ALLOCATOR

#: Results column naming the malloc configuration a row was measured under (old CSVs lack it).
ALLOCATOR = "allocator"
#: Family of dispatchers: they run another method's code, so they never compete.
DISPATCHER_FAMILY = "auto"
#: p-value above which two methods' samples count as indistinguishable (Mann–Whitney U).
TIE_P_VALUE = 0.05
#: Columns :func:`fastest` adds to the cell keys.
COLUMNS = ("method", "time_s", "runner_up", "margin", "tie", "undecided", "decided")


def allocators(df: pd.DataFrame) -> pd.Series:
    """The allocator of every row: the ``allocator`` column, ``DEFAULT_ALLOCATOR`` where it is
    missing or empty (old CSVs were all measured under glibc's own malloc)."""
    if ALLOCATOR not in df.columns:
        return pd.Series(DEFAULT_ALLOCATOR, index=df.index, dtype=object)
    raw = df[ALLOCATOR].astype(object)
    text = raw.where(raw.notna(), "").astype(str).str.strip()
    return text.where(text != "", DEFAULT_ALLOCATOR)


def one_allocator(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``DEFAULT_ALLOCATOR`` when there are any, else those of the first allocator."""
    alloc = allocators(rows)
    if alloc.empty:
        return rows
    keep = DEFAULT_ALLOCATOR if (alloc == DEFAULT_ALLOCATOR).any() else sorted(set(alloc))[0]
    return rows[alloc == keep]


def fastest(rows: pd.DataFrame, *, cpu: bool = False, by: Sequence[str] = ()) -> pd.DataFrame:
    """The fastest concrete method of every cell of ``rows``, and whether the cell is decided.

    Rules:

    - only ``ok`` rows compete, and never a dispatcher (family ``auto``): it repeats the method
      it picks, so naming it would hide which code ran;
    - the time is the row's median of per-process medians, ``time_median_s`` (wall), or with
      ``cpu`` ``cpu_median_s`` (wall where a row has no CPU time); equal times go to the method
      whose name sorts first, so the answer never depends on the order of the rows;
    - *undecided* (no method named): an ``ok`` contender has no usable time;
    - *tie*: the runner-up cannot be told apart from the best, because the margin (runner-up time
      / best time) is within the larger ``process_spread`` of the two rows (the noise between
      processes, what a second run moves by), or because a two-sided Mann–Whitney U test on the
      raw samples (``samples_s``, or ``cpu_samples_s``; >= 3 each) gives p > ``TIE_P_VALUE``;
    - *decided*: a method is named and it is not a tie.

    Parameters
    ----------
    rows : pandas.DataFrame
        Results rows (as :func:`convbench.results.read_rows` gives them) of one or more cells.
    cpu : bool
        Rank on CPU time instead of wall time.
    by : sequence of str
        More columns that split cells (e.g. ``machine``).

    Returns
    -------
    pandas.DataFrame
        One row per cell that has rows, sorted by its keys: ``by``, ``CASE_KEYS``, ``allocator``,
        then ``method`` (``""`` when none is named), ``time_s`` (its time), ``runner_up``
        (``""`` without one), ``margin`` (>= 1; NaN without a runner-up), ``tie``, ``undecided``
        and ``decided``. Cost: O(rows log rows) plus one Mann–Whitney test per cell.
    """
    keys = [*by, *CASE_KEYS, ALLOCATOR]
    cells = []
    if not rows.empty:
        frame = rows.assign(**{ALLOCATOR: allocators(rows), "_time": _times(rows, cpu)})
        cells = [
            {**dict(zip(keys, key, strict=True)), **_rank_cell(part, cpu)}
            for key, part in frame.groupby(keys, sort=True, dropna=False)
        ]
    # Typed even when empty, so that table[table["decided"]] selects rows, never columns.
    flags = dict.fromkeys(("tie", "undecided", "decided"), bool)
    return pd.DataFrame(cells, columns=[*keys, *COLUMNS]).astype({"margin": float, **flags})


def _times(rows: pd.DataFrame, cpu: bool) -> pd.Series:
    wall = pd.to_numeric(rows["time_median_s"], errors="coerce")
    if not cpu or "cpu_median_s" not in rows.columns:
        return wall
    return pd.to_numeric(rows["cpu_median_s"], errors="coerce").fillna(wall)


def _contenders(part: pd.DataFrame) -> pd.DataFrame:
    family = part["family"] if "family" in part.columns else pd.Series("", index=part.index)
    return part[(part["status"] == "ok") & (family != DISPATCHER_FAMILY)]


def _rank_cell(part: pd.DataFrame, cpu: bool) -> dict:
    """The fields of ``COLUMNS`` for the rows of one cell."""
    cell = dict(method="", time_s=np.nan, runner_up="", margin=np.nan, tie=False)
    ok = _contenders(part)
    if not (ok["_time"] > 0).all():
        return {**cell, "undecided": True, "decided": False}
    ranked = ok.assign(_name=ok["method"].astype(str)).sort_values(["_time", "_name"])
    ranked = ranked.drop_duplicates("_name")
    if ranked.empty:
        return {**cell, "undecided": False, "decided": False}
    best = ranked.iloc[0]
    cell.update(method=best["_name"], time_s=float(best["_time"]))
    if len(ranked) > 1:
        second = ranked.iloc[1]
        margin = float(second["_time"] / best["_time"])
        cell.update(runner_up=second["_name"], margin=margin, tie=is_tie(best, second, margin, cpu))
    return {**cell, "undecided": False, "decided": not cell["tie"]}


def is_tie(best: Mapping, second: Mapping, margin: float, cpu: bool = False) -> bool:
    """Whether two rows of one cell cannot be told apart (see :func:`fastest`)."""
    return margin <= _noise(best, second) or _same_samples(best, second, cpu)


def _noise(a: Mapping, b: Mapping) -> float:
    """The larger ``process_spread`` of two rows (1.0 when neither knows it)."""
    spreads = pd.to_numeric(pd.Series([a.get("process_spread"), b.get("process_spread")]),
                            errors="coerce")  # fmt: skip
    return float(np.nanmax([1.0, *spreads]))


def _samples(row: Mapping, cpu: bool) -> list[float]:
    for column in ("cpu_samples_s", "samples_s") if cpu else ("samples_s",):
        value = row.get(column)
        if isinstance(value, list | tuple | np.ndarray) and len(value):
            return [float(v) for v in value]
    return []


def _same_samples(a: Mapping, b: Mapping, cpu: bool) -> bool:
    samples_a, samples_b = _samples(a, cpu), _samples(b, cpu)
    if len(samples_a) < 3 or len(samples_b) < 3:
        return False
    if len(set(samples_a) | set(samples_b)) == 1:
        return True
    return bool(mannwhitneyu(samples_a, samples_b, alternative="two-sided").pvalue > TIE_P_VALUE)

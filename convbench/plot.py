"""Figures of a results CSV: per-method heatmaps over input size × kernel size, the fastest method
per cell, the fastest method's margin over the runner-up, and, for a CSV measured under both
allocators, what tuning glibc's malloc buys each method.

The work is split in two so that tests can check what is drawn:

- :func:`facet_grids` turns the tidy rows into :class:`FacetGrid` objects (plain arrays: the swept
  values, one 2D array per method, status masks, the winner per cell, the margin and the ties);
  :func:`allocator_gains` turns them into :class:`GainGrid` objects;
- :func:`draw_facet`, :func:`draw_margin` and :func:`draw_allocator_gain` turn one grid into a
  :class:`matplotlib.figure.Figure`.

Nothing here touches pyplot's global state or saves files: the caller decides where figures go.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm, Normalize, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter

from .cases import CASE_KEYS, FACET_KEYS
from .errors import ResultsError
from .fastest import ALLOCATOR, DISPATCHER_FAMILY, allocators, fastest
from .measure.memory import MEMORY_RESOLUTION_BYTES
from .results import DEFAULT_ALLOCATOR, read_meta, read_rows


@dataclass(frozen=True)
class Metric:
    """What a heatmap shows: a results column, its unit, and whether smaller is better."""

    name: str
    column: str
    label: str
    lower_is_better: bool
    scales_with_per: bool = False


METRICS: dict[str, Metric] = {
    "time": Metric("time", "time_median_s", "median wall time", True, scales_with_per=True),
    "memory": Metric("memory", "peak_bytes", "peak extra memory (bytes)", True),
    "gflops": Metric("gflops", "gflops", "GFLOP/s", False),
}

#: Marker per non-``ok`` status, drawn on top of the heatmap cell (the cell itself stays blank).
STATUS_MARKERS: dict[str, dict[str, object]] = {
    "wrong": {"marker": "X", "color": "black", "label": "wrong result"},
    "error": {"marker": "^", "color": "black", "label": "error"},
    "skipped": {"marker": "o", "color": "0.35", "label": "skipped (budget/rule)"},
    "unsupported": {"marker": "s", "color": "0.35", "label": "unsupported"},
}

# Okabe & Ito (2008), then the colours of Paul Tol's "muted" scheme that are not near-twins of
# those: 16 colours that stay distinguishable for the common colour-vision deficiencies.
PALETTE: tuple[str, ...] = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#000000",
    "#332288",
    "#117733",
    "#999933",
    "#CC6677",
    "#882255",
    "#AA4499",
    "#BBBBBB",
    "#DDCC77",
)

#: Relative difference under which two memory figures count as a tie (memory has no samples).
MEMORY_TIE_REL = 0.01
#: glibc with its thresholds fixed by ``mallopt``.
STEADY_ALLOCATOR = "steady"


def method_order(extra: Sequence[str] = ()) -> list[str]:
    """Every registered method in registry order, then ``extra`` names unknown to it, by name."""
    from .methods import available_methods

    known = available_methods()
    return known + sorted(set(extra) - set(known))


def method_colors(methods: Sequence[str]) -> dict[str, str]:
    """A colour per method, fixed by its place in :func:`method_order` (same in every figure)."""
    order = method_order(methods)
    return {m: PALETTE[order.index(m) % len(PALETTE)] for m in methods}


class _FacetAxes:
    """Labels, title and file slug of a grid over a facet's inputs (x) and kernels (y)."""

    facet: dict[str, object]
    inputs: list[tuple[int, int]]
    kernels: list[tuple[int, int]]

    @property
    def input_labels(self) -> list[str]:
        """``n`` for square inputs, ``h×w`` otherwise."""
        return [size_label(s) for s in self.inputs]

    @property
    def kernel_labels(self) -> list[str]:
        return [size_label(s) for s in self.kernels]

    @property
    def title(self) -> str:
        return facet_label(self.facet)

    @property
    def slug(self) -> str:
        """A file-name-safe name of the facet, e.g. ``d5-s2-p0-float64`` (``-steady`` appended
        when the CSV holds several allocators)."""
        return facet_slug(self.facet)


@dataclass
class FacetGrid(_FacetAxes):
    """Everything one facet's figures draw, as arrays indexed ``[kernel_index, input_index]``.

    Attributes
    ----------
    facet : the facet's values (``FACET_KEYS`` -> value), plus ``allocator`` when the rows were
        measured under more than one (so titles and file names of one-allocator CSVs stay as
        they were).
    allocator : the allocator of every row of the grid (``DEFAULT_ALLOCATOR`` for old CSVs).
    metric : the :class:`Metric` shown.
    per : calls per value (``time`` is multiplied by it).
    inputs, kernels : the swept (h, w) sizes along x and y, sorted.
    methods : the methods drawn, in :func:`method_order`.
    contenders : the methods ranked for ``fastest`` / ``runner_up``: all but dispatchers
        (family ``auto``), which only repeat the method they pick.
    values : method -> float array (ny, nx); NaN where the method has no ``ok`` value.
    unvalued : method -> bool array (ny, nx); an ``ok`` row without a usable value (an old CSV's
        ``peak_bytes`` of 0 or nothing): drawn at the colour floor, never ranked.
    status : method -> str array (ny, nx); the row's status, ``""`` where there is no row.
    samples : method -> object array (ny, nx) of raw time samples (lists; empty when unknown).
    measured : bool (ny, nx): some method has a row for the cell (False = infeasible / not swept).
    fastest : int (ny, nx): index into ``methods`` of the best value, -1 where nobody has one or
        where the cell is ``undecided``.
    undecided : bool (ny, nx): a contender's row is ``ok`` but has no value, so nobody is named.
    runner_up : int (ny, nx): index of the second best, -1 where fewer than two have a value.
    margin : float (ny, nx): runner-up value / best value for lower-is-better metrics (best /
        runner-up for gflops), so always >= 1; NaN without a runner-up.
    tie : bool (ny, nx): best and runner-up cannot be told apart (times:
        :func:`convbench.fastest.fastest`; memory: :func:`memory_tie`).
    vmin, vmax : the shared colour range of every method panel.
    """

    facet: dict[str, object]
    allocator: str
    metric: Metric
    per: int
    inputs: list[tuple[int, int]]
    kernels: list[tuple[int, int]]
    methods: list[str]
    contenders: list[str]
    values: dict[str, np.ndarray]
    unvalued: dict[str, np.ndarray]
    status: dict[str, np.ndarray]
    samples: dict[str, np.ndarray] = field(repr=False)
    measured: np.ndarray = field(repr=False)
    fastest: np.ndarray = field(repr=False)
    undecided: np.ndarray = field(repr=False)
    runner_up: np.ndarray = field(repr=False)
    margin: np.ndarray = field(repr=False)
    tie: np.ndarray = field(repr=False)
    vmin: float = np.nan
    vmax: float = np.nan


def size_label(size: tuple[int, int]) -> str:
    h, w = size
    return str(h) if h == w else f"{h}×{w}"


def _pair_text(h: object, w: object) -> str:
    return f"{h}" if h == w else f"({h}, {w})"


def facet_label(facet: Mapping[str, object]) -> str:
    """``depth 5, stride 2, padding 0, float64`` (+ batch/filters in layer mode)."""
    parts = [
        f"depth {facet['depth']}" if facet["depth"] else "2D",
        f"stride {_pair_text(facet['stride_h'], facet['stride_w'])}",
        f"padding {_pair_text(facet['pad_h'], facet['pad_w'])}",
        str(facet["dtype"]),
    ]
    if facet.get("batch"):
        parts.append(f"batch {facet['batch']}")
    if facet.get("filters"):
        parts.append(f"filters {facet['filters']}")
    if facet.get(ALLOCATOR):
        parts.append(f"{facet[ALLOCATOR]} allocator")
    return ", ".join(parts)


def facet_slug(facet: Mapping[str, object]) -> str:
    def pair(a: str, b: str) -> str:
        return f"{facet[a]}" if facet[a] == facet[b] else f"{facet[a]}x{facet[b]}"

    slug = f"d{facet['depth']}-s{pair('stride_h', 'stride_w')}-p{pair('pad_h', 'pad_w')}"
    slug += f"-{facet['dtype']}"
    if facet.get("batch"):
        slug += f"-n{facet['batch']}"
    if facet.get("filters"):
        slug += f"-f{facet['filters']}"
    if facet.get(ALLOCATOR):
        slug += "-" + re.sub(r"[^A-Za-z0-9_.]+", "-", str(facet[ALLOCATOR]))
    return slug


def machine_label(meta: Mapping[str, object]) -> str:
    """``CPU model, N threads`` from a sidecar, tolerating the keys older sidecars may lack."""

    def find(*names: str) -> object:
        for scope in (meta, meta.get("machine") or {}, meta.get("config") or {}):
            if isinstance(scope, Mapping):
                for name in names:
                    if scope.get(name) not in (None, ""):
                        return scope[name]
        return None

    cpu = find("cpu_model", "cpu", "processor")
    threads = find("threads", "n_threads", "blas_threads")
    parts = [str(cpu) if cpu else "unknown CPU"]
    if threads is not None:
        parts.append(f"{threads} thread{'s' if str(threads) != '1' else ''}")
    return ", ".join(parts)


def gemm_peak(meta: Mapping[str, object]) -> float | None:
    """The single-core float64 GEMM peak (GFLOP/s) a run recorded in its sidecar, if any."""
    value = meta.get("gemm_peak_gflops")
    try:
        peak = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return peak if peak > 0 else None


def load(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """The rows and sidecar of one results CSV (:class:`ResultsError` when unusable)."""
    return read_rows(path), read_meta(path)


def metric_values(df: pd.DataFrame, metric: Metric) -> pd.Series:
    """The numbers ``metric`` draws, one per row (NaN where there is none).

    Memory is ``max(peak_bytes, tracemalloc_bytes)``: what newer CSVs store in ``peak_bytes``, and
    for older ones (whose RSS figure reads 0 below its resolution) the best lower bound there is.
    """
    values = pd.to_numeric(df[metric.column], errors="coerce")
    if metric.name == "memory" and "tracemalloc_bytes" in df.columns:
        values = np.fmax(values, pd.to_numeric(df["tracemalloc_bytes"], errors="coerce"))
    return values


def select_methods(df: pd.DataFrame, methods: Sequence[str] | None) -> pd.DataFrame:
    """Keep only ``methods`` (all when None); unknown names are an error naming them."""
    if not methods:
        return df
    missing = sorted(set(methods) - set(df["method"]))
    if missing:
        raise ResultsError(
            f"--methods: not in the results: {', '.join(missing)} "
            f"(present: {', '.join(sorted(set(df['method'])))})"
        )
    return df[df["method"].isin(methods)]


def facet_grids(
    df: pd.DataFrame,
    metric: str = "time",
    *,
    methods: Sequence[str] | None = None,
    per: int = 1,
) -> list[FacetGrid]:
    """One :class:`FacetGrid` per combination of ``FACET_KEYS`` and allocator present in ``df``.

    Cost: O(rows) plus one Mann–Whitney test per cell.

    Raises
    ------
    ResultsError
        For an unknown metric, a ``--methods`` name not in the data, or a metric with no value.
    """
    if metric not in METRICS:
        raise ResultsError(f"--metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if per < 1:
        raise ResultsError(f"--per must be >= 1, got {per}")
    m = METRICS[metric]
    df = select_methods(df, methods)
    values = metric_values(df, m)
    usable = (df["status"] == "ok") & values.notna() & (values > 0)
    if not usable.any():
        raise ResultsError(f"no usable {m.name} values ({m.column}) in the results")
    df = df.assign(
        value_=values.where(usable) * (per if m.scales_with_per else 1), allocator_=allocators(df)
    )
    several = df["allocator_"].nunique() > 1
    grids = []
    for key, part in df.groupby([*FACET_KEYS, "allocator_"], sort=True):
        facet = dict(zip(FACET_KEYS, (_plain(k) for k in key[:-1]), strict=True))
        if several:
            facet[ALLOCATOR] = key[-1]
        grids.append(_grid(part, facet, key[-1], m, per))
    return grids


#: Columns of :func:`winners` besides the case keys, the allocator and the metric's column.
WINNER_COLUMNS = ("method", "runner_up", "margin", "tie", "decided")


def winners(
    df: pd.DataFrame, metric: str = "time", *, methods: Sequence[str] | None = None
) -> pd.DataFrame:
    """The best method of every measured cell, as the fastest-method map draws it.

    One row per (case, allocator) that has rows: ``CASE_KEYS``, ``allocator``, ``method`` (the
    best: least time or memory, most GFLOP/s; ``""`` when no method has a value), the metric's
    column (``time_median_s``, ``peak_bytes`` or ``gflops``) of that method, ``runner_up``,
    ``margin`` (runner-up / best, >= 1; NaN without a runner-up), ``tie`` (the two cannot be
    told apart) and ``decided`` (a method is named and it is no tie). Times are ranked by
    :func:`convbench.fastest.fastest`, memory by :func:`memory_tie`; dispatchers (family
    ``auto``) do not compete. Cost: as :func:`facet_grids`.
    """
    column = METRICS[metric].column if metric in METRICS else metric
    rows = []
    for grid in facet_grids(df, metric, methods=methods):
        for (y, kernel), (x, size) in itertools.product(
            enumerate(grid.kernels), enumerate(grid.inputs)
        ):
            if not grid.measured[y, x]:
                continue
            best, second = grid.fastest[y, x], grid.runner_up[y, x]
            rows.append(
                {
                    "input_h": size[0],
                    "input_w": size[1],
                    "kernel_h": kernel[0],
                    "kernel_w": kernel[1],
                    **{k: grid.facet[k] for k in FACET_KEYS},
                    "allocator": grid.allocator,
                    "method": grid.methods[best] if best >= 0 else "",
                    column: grid.values[grid.methods[best]][y, x] if best >= 0 else np.nan,
                    "runner_up": grid.methods[second] if second >= 0 else "",
                    "margin": float(grid.margin[y, x]),
                    "tie": bool(grid.tie[y, x]),
                    "decided": bool(best >= 0 and not grid.tie[y, x]),
                }
            )
    names = [*CASE_KEYS, "allocator", "method", column, *WINNER_COLUMNS[1:]]
    return pd.DataFrame(rows, columns=names)


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _sizes(part: pd.DataFrame, what: str) -> list[tuple[int, int]]:
    pairs = part[[f"{what}_h", f"{what}_w"]].astype(int).itertuples(index=False, name=None)
    return sorted(set(pairs))


def _grid(part: pd.DataFrame, facet: dict, allocator: str, metric: Metric, per: int) -> FacetGrid:
    inputs = _sizes(part, "input")
    kernels = _sizes(part, "kernel")
    methods = [m for m in method_order(part["method"].unique()) if m in set(part["method"])]
    xi = {s: i for i, s in enumerate(inputs)}
    yi = {s: i for i, s in enumerate(kernels)}
    shape = (len(kernels), len(inputs))
    values = {m: np.full(shape, np.nan) for m in methods}
    unvalued = {m: np.zeros(shape, dtype=bool) for m in methods}
    status = {m: np.full(shape, "", dtype=object) for m in methods}
    samples = {m: np.empty(shape, dtype=object) for m in methods}
    for arr in samples.values():
        arr.fill([])
    for row in part.itertuples(index=False):
        y = yi[(int(row.kernel_h), int(row.kernel_w))]
        x = xi[(int(row.input_h), int(row.input_w))]
        values[row.method][y, x] = row.value_
        unvalued[row.method][y, x] = row.status == "ok" and not np.isfinite(row.value_)
        status[row.method][y, x] = row.status
        samples[row.method][y, x] = list(row.samples_s)
    measured = np.zeros(shape, dtype=bool)
    for s in status.values():
        measured |= s != ""
    families = part.groupby("method")["family"].first()
    contenders = [m for m in methods if families.get(m) != DISPATCHER_FAMILY]
    if metric.name == "memory":
        fastest_, runner_up, margin, tie, undecided = _rank_memory(methods, contenders, values,
                                                                   unvalued)  # fmt: skip
    else:  # GFLOP/s is flops / time of one case: the fastest method has the most
        fastest_, runner_up, margin, tie, undecided = _rank_time(part, methods, xi, yi)
    finite = np.concatenate([v[np.isfinite(v)] for v in values.values()])
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (1.0, 10.0)
    if vmin == vmax:  # one distinct value: widen so LogNorm has a range
        vmin, vmax = vmin / 2, vmax * 2
    return FacetGrid(
        facet=facet,
        allocator=allocator,
        metric=metric,
        per=per,
        inputs=inputs,
        kernels=kernels,
        methods=methods,
        contenders=contenders,
        values=values,
        unvalued=unvalued,
        status=status,
        samples=samples,
        measured=measured,
        fastest=fastest_,
        undecided=undecided,
        runner_up=runner_up,
        margin=margin,
        tie=tie,
        vmin=vmin,
        vmax=vmax,
    )


def _rank_time(
    part: pd.DataFrame, methods: list[str], xi: dict, yi: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Winner, runner-up, margin, tie and undecided arrays, as :func:`convbench.fastest.fastest`
    ranks each cell."""
    shape = (len(yi), len(xi))
    best, second = np.full(shape, -1), np.full(shape, -1)
    margin, tie, undecided = np.full(shape, np.nan), np.zeros(shape, bool), np.zeros(shape, bool)
    for cell in fastest(part).itertuples(index=False):
        y, x = (
            yi[(int(cell.kernel_h), int(cell.kernel_w))],
            xi[(int(cell.input_h), int(cell.input_w))],
        )
        best[y, x] = methods.index(cell.method) if cell.method else -1
        second[y, x] = methods.index(cell.runner_up) if cell.runner_up else -1
        margin[y, x], tie[y, x], undecided[y, x] = cell.margin, cell.tie, cell.undecided
    return best, second, margin, tie, undecided


def _rank_memory(
    methods: list[str],
    contenders: list[str],
    values: dict[str, np.ndarray],
    unvalued: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    shape = next(iter(values.values())).shape
    if not contenders:
        none = np.full(shape, -1)
        return (
            none,
            none.copy(),
            np.full(shape, np.nan),
            np.zeros(shape, bool),
            np.zeros(shape, bool),
        )
    stack = np.stack([values[m] for m in contenders])  # (contenders, ny, nx)
    # Sort so that the least comes first; NaN (no value) always sorts last.
    order = np.argsort(np.where(np.isnan(stack), np.inf, stack), axis=0, kind="stable")
    order = np.array([methods.index(m) for m in contenders])[order]  # back to indices of methods
    count = np.isfinite(stack).sum(axis=0)
    best = np.where(count >= 1, order[0], -1)
    runner_up = np.where(count >= 2, order[1] if len(contenders) > 1 else -1, -1)
    margin = np.full(shape, np.nan)
    tie = np.zeros(shape, dtype=bool)
    for y, x in zip(*np.nonzero(count >= 2), strict=True):
        a, b = values[methods[best[y, x]]][y, x], values[methods[runner_up[y, x]]][y, x]
        tie[y, x] = memory_tie(a, b)
        # A ratio of figures under the resolution would be noise.
        margin[y, x] = max(b, MEMORY_RESOLUTION_BYTES) / max(a, MEMORY_RESOLUTION_BYTES)
    undecided = np.logical_or.reduce([unvalued[m] for m in contenders])
    best[undecided], runner_up[undecided], margin[undecided] = -1, -1, np.nan
    tie[undecided] = False
    return best, runner_up, margin, tie, undecided


def memory_tie(a: float, b: float) -> bool:
    """Whether two memory figures cannot be told apart: they differ by at most
    ``MEMORY_RESOLUTION_BYTES`` or ``MEMORY_TIE_REL`` of the larger, whichever is larger
    (memory has no samples; times are judged by :func:`convbench.fastest.fastest`)."""
    return abs(a - b) <= max(MEMORY_RESOLUTION_BYTES, MEMORY_TIE_REL * max(a, b))


@dataclass
class GainGrid(_FacetAxes):
    """What tuning glibc's malloc buys each method in one facet: ``time(default) / time(steady)``.

    Attributes
    ----------
    facet : the facet's values (``FACET_KEYS`` -> value).
    inputs, kernels : the swept (h, w) sizes along x and y, sorted.
    methods : the methods with a ratio somewhere, in :func:`method_order`.
    ratio : method -> float array (ny, nx) of the median time under ``DEFAULT_ALLOCATOR`` over the
        median time under ``STEADY_ALLOCATOR`` (> 1: the steady allocator is faster); NaN where
        either row is missing or not ``ok``.
    """

    facet: dict[str, object]
    inputs: list[tuple[int, int]]
    kernels: list[tuple[int, int]]
    methods: list[str]
    ratio: dict[str, np.ndarray]


class GainStats(NamedTuple):
    """A method's ``time(default) / time(steady)`` over the cells of one facet."""

    median: float
    max: float
    cells: int


def allocator_gains(df: pd.DataFrame, *, methods: Sequence[str] | None = None) -> list[GainGrid]:
    """One :class:`GainGrid` per facet (``FACET_KEYS``) with rows under both allocators.

    Empty when ``df`` was measured under one allocator only (every CSV older than the column).
    """
    alloc = allocators(df)
    if not {DEFAULT_ALLOCATOR, STEADY_ALLOCATOR} <= set(alloc):
        return []
    df = select_methods(df, methods)
    times = pd.to_numeric(df["time_median_s"], errors="coerce")
    usable = (df["status"] == "ok") & (times > 0)
    df = df.assign(time_=times.where(usable), allocator_=alloc)
    grids = []
    for key, part in df.groupby(list(FACET_KEYS), sort=True):
        grid = _gain_grid(part, dict(zip(FACET_KEYS, (_plain(k) for k in key), strict=True)))
        if grid.methods:
            grids.append(grid)
    return grids


def _gain_grid(part: pd.DataFrame, facet: dict) -> GainGrid:
    inputs, kernels = _sizes(part, "input"), _sizes(part, "kernel")
    xi = {s: i for i, s in enumerate(inputs)}
    yi = {s: i for i, s in enumerate(kernels)}
    ok = part[part["time_"].notna()]
    table = ok.pivot_table(
        index=["method", "kernel_h", "kernel_w", "input_h", "input_w"],
        columns="allocator_",
        values="time_",
        aggfunc="median",
    )
    ratio: dict[str, np.ndarray] = {}
    if {DEFAULT_ALLOCATOR, STEADY_ALLOCATOR} <= set(table.columns):
        both = (table[DEFAULT_ALLOCATOR] / table[STEADY_ALLOCATOR]).dropna()
        for (method, kh, kw, ih, iw), r in both.items():
            arr = ratio.setdefault(method, np.full((len(kernels), len(inputs)), np.nan))
            arr[yi[(int(kh), int(kw))], xi[(int(ih), int(iw))]] = r
    methods = [m for m in method_order(list(ratio)) if m in ratio]
    return GainGrid(facet, inputs, kernels, methods, {m: ratio[m] for m in methods})


def gain_stats(grid: GainGrid) -> dict[str, GainStats]:
    """Per method, the median and largest ratio over the cells that have one, and their count."""
    out = {}
    for m in grid.methods:
        r = grid.ratio[m][np.isfinite(grid.ratio[m])]
        out[m] = GainStats(float(np.median(r)), float(r.max()), int(r.size))
    return out


# ---------------------------------------------------------------------------------- drawing


def _cell_axes(ax, grid: FacetGrid | GainGrid) -> None:
    ax.set_xticks(range(len(grid.inputs)), grid.input_labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(grid.kernels)), grid.kernel_labels, fontsize=7)
    ax.set_xlabel("input size n (n×n)")
    ax.set_ylabel("kernel size f (f×f)")
    ax.set_xlim(-0.5, len(grid.inputs) - 0.5)
    ax.set_ylim(-0.5, len(grid.kernels) - 0.5)


def colorbar_label(grid: FacetGrid) -> str:
    m = grid.metric
    if m.name == "time":
        return f"seconds per {grid.per} calls" if grid.per > 1 else "seconds per call"
    return m.label


def value_norm(grid: FacetGrid) -> Normalize:
    """The shared log colour scale of every method panel."""
    return LogNorm(vmin=grid.vmin, vmax=grid.vmax)


def _mark_statuses(ax, grid: FacetGrid, method: str) -> set[str]:
    shown = set()
    for name, style in STATUS_MARKERS.items():
        ys, xs = np.nonzero(grid.status[method] == name)
        if len(xs):
            ax.scatter(xs, ys, marker=style["marker"], s=14, facecolors="none"
                       if style["marker"] in "os" else style["color"],
                       edgecolors=style["color"], linewidths=0.8)  # fmt: skip
            shown.add(name)
    return shown


#: Marker of an ``ok`` cell without a value, drawn at the colour floor.
FLOOR_MARKER: dict[str, object] = {"marker": "v", "color": "white", "edgecolor": "black"}


def floor_label(grid: FacetGrid) -> str:
    return f"ok, no {grid.metric.label} (0 or empty in an old CSV): drawn at the colour floor"


def _panel_data(grid: FacetGrid, method: str) -> np.ma.MaskedArray:
    """A method's values with its ``unvalued`` cells at the floor, so no ``ok`` cell is blank."""
    return np.ma.masked_invalid(np.where(grid.unvalued[method], grid.vmin, grid.values[method]))


def _mark_floor(ax, grid: FacetGrid, method: str) -> bool:
    ys, xs = np.nonzero(grid.unvalued[method])
    if len(xs):
        ax.scatter(xs, ys, marker=FLOOR_MARKER["marker"], s=14, facecolors=FLOOR_MARKER["color"],
                   edgecolors=FLOOR_MARKER["edgecolor"], linewidths=0.6)  # fmt: skip
    return bool(len(xs))


def _floor_handle(grid: FacetGrid) -> Line2D:
    return Line2D([], [], linestyle="", marker=FLOOR_MARKER["marker"],
                  markerfacecolor=FLOOR_MARKER["color"], markeredgecolor=FLOOR_MARKER["edgecolor"],
                  label=floor_label(grid))  # fmt: skip


def _panel_grid(count: int) -> tuple[int, int]:
    cols = min(4, count)
    return -(-count // cols), cols


def draw_facet(grid: FacetGrid, meta: Mapping[str, object] | None = None) -> Figure:
    """A panel per method (shared log colour scale) and a last panel with the best method per cell.

    Blank cells have no value (infeasible, not swept, or not ``ok``); non-``ok`` rows are marked
    with the symbols of ``STATUS_MARKERS``.
    """
    n = len(grid.methods) + 1
    rows, cols = _panel_grid(n)
    fig = Figure(figsize=(3.6 * cols + 1.5, 3.2 * rows + 1.2), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    norm = value_norm(grid)
    image = None
    shown: set[str] = set()
    floored = False
    for ax, method in zip(axes, grid.methods, strict=False):
        data = _panel_data(grid, method)
        image = ax.imshow(data, origin="lower", cmap="viridis", norm=norm, aspect="auto")
        shown |= _mark_statuses(ax, grid, method)
        floored |= _mark_floor(ax, grid, method)
        ax.set_title(method, fontsize=9)
        _cell_axes(ax, grid)
    bar = fig.colorbar(image, ax=axes[: len(grid.methods)].tolist(), label=colorbar_label(grid))
    peak = gemm_peak(meta or {}) if grid.metric.name == "gflops" else None
    if peak:
        # The same colours read as a share of the machine's single-core GEMM peak.
        share = bar.ax.secondary_yaxis(
            "left", functions=(lambda v: 100 * v / peak, lambda pct: pct * peak / 100)
        )
        share.set_ylabel(f"% of the GEMM peak ({peak:.1f} GFLOP/s, 1 core, float64)")
    winners = _draw_fastest(axes[len(grid.methods)], grid)
    for ax in axes[n:]:
        ax.set_visible(False)
    handles = _winner_handles(grid, winners)
    if shown:
        handles += [
            Line2D([], [], linestyle="", marker=STATUS_MARKERS[s]["marker"],
                   color=STATUS_MARKERS[s]["color"], markerfacecolor="none"
                   if STATUS_MARKERS[s]["marker"] in "os" else STATUS_MARKERS[s]["color"],
                   label=STATUS_MARKERS[s]["label"])
            for s in STATUS_MARKERS if s in shown
        ]  # fmt: skip
    if floored:
        handles.append(_floor_handle(grid))
    handles += _fastest_notes(grid)
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), fontsize=8)
    fig.suptitle(_suptitle(grid, meta, grid.metric.label))
    return fig


def method_codes(methods: Sequence[str]) -> dict[str, str]:
    """A short code per method, A, B, C, ... (then AA, AB, ...): written in the cells of the
    fastest-method map and in the report's tables, so neither depends on telling colours apart."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return {m: letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]
            for i, m in enumerate(methods)}  # fmt: skip


def _winner_handles(grid: FacetGrid, winners: list[str]) -> list[Patch]:
    colors, codes = method_colors(grid.methods), method_codes(grid.methods)
    return [Patch(color=colors[m], label=f"{codes[m]}: {m} ({best_word(grid)})") for m in winners]


def luminance(color: str) -> float:
    """Relative luminance (0 black .. 1 white) of a matplotlib colour, to pick readable ink."""
    r, g, b = to_rgb(color)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def draw_fastest(grid: FacetGrid, meta: Mapping[str, object] | None = None) -> Figure:
    """The best method per cell on its own (the last panel of :func:`draw_facet`, larger)."""
    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    ax = fig.subplots()
    winners = _draw_fastest(ax, grid)
    ax.set_title("")
    notes = _fastest_notes(grid)
    handles = _winner_handles(grid, winners) + notes
    cols = min(len(handles), 2 if notes else 3)
    fig.legend(handles=handles, loc="outside lower center", ncols=cols, fontsize=8)
    fig.suptitle(_suptitle(grid, meta, f"{best_word(grid)} method"))
    return fig


def best_word(grid: FacetGrid) -> str:
    return {"time": "fastest", "memory": "least memory", "gflops": "most GFLOP/s"}[grid.metric.name]


def _draw_fastest(ax, grid: FacetGrid) -> list[str]:
    """Draw the best method per cell; return the methods that win somewhere (for the legend)."""
    colors = method_colors(grid.methods)
    cmap = ListedColormap([colors[m] for m in grid.methods])
    norm = BoundaryNorm(np.arange(len(grid.methods) + 1) - 0.5, len(grid.methods))
    data = np.ma.masked_less(grid.fastest, 0)
    ax.imshow(data, origin="lower", cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    codes = method_codes(grid.methods)
    for y, x in zip(*np.nonzero(grid.fastest >= 0), strict=True):
        m = grid.methods[grid.fastest[y, x]]
        ink = "white" if luminance(colors[m]) < 0.5 else "black"
        ax.text(x, y, fastest_code(grid, y, x, codes), ha="center", va="center", fontsize=7,
                color=ink)  # fmt: skip
    _mark_undecided(ax, grid)
    ax.set_title(f"{best_word(grid)} method", fontsize=9)
    _cell_axes(ax, grid)
    return [m for i, m in enumerate(grid.methods) if (grid.fastest == i).any()]


def fastest_code(grid: FacetGrid, y: int, x: int, codes: Mapping[str, str]) -> str:
    """The code written in a cell of the best-method map: memory ties carry a ``=``, since peaks
    within the resolution say nothing about which method needs less."""
    code = codes[grid.methods[grid.fastest[y, x]]]
    return code + "=" if grid.metric.name == "memory" and grid.tie[y, x] else code


def _fastest_notes(grid: FacetGrid) -> list[Line2D]:
    notes = []
    if grid.metric.name == "memory" and (grid.tie & (grid.fastest >= 0)).any():
        label = f"tied with runner-up ({memory_tie_text()})"
        notes.append(Line2D([], [], linestyle="", marker="$=$", color="black", label=label))
    if grid.undecided.any():
        notes.append(_undecided_handle(grid))
    return notes


def _undecided_handle(grid: FacetGrid) -> Line2D:
    return Line2D([], [], linestyle="", marker="$?$", color="black",
                  label=f"undecided: an ok method has no {grid.metric.label}")  # fmt: skip


def _mark_undecided(ax, grid: FacetGrid) -> None:
    for y, x in zip(*np.nonzero(grid.undecided), strict=True):
        ax.text(x, y, "?", ha="center", va="center", fontsize=7, color="black")


def memory_tie_text() -> str:
    return f"within {MEMORY_RESOLUTION_BYTES // 1024} KiB or {MEMORY_TIE_REL:.0%}"


def draw_margin(grid: FacetGrid, meta: Mapping[str, object] | None = None) -> Figure:
    """The best method's margin over the runner-up per cell, in percent; ties hatched."""
    fig = Figure(figsize=(6.5, 5), layout="constrained")
    ax = fig.subplots()
    pct = np.ma.masked_invalid((grid.margin - 1) * 100)
    top = max(float(pct.max()) if pct.count() else 1.0, 1.0)
    image = ax.imshow(pct, origin="lower", cmap="magma_r", vmin=0, vmax=top, aspect="auto")
    ys, xs = np.nonzero(grid.tie)
    ax.scatter(xs, ys, marker="$=$", s=30, color="tab:cyan")
    _mark_undecided(ax, grid)
    _cell_axes(ax, grid)
    better = "faster" if grid.metric.name != "memory" else "smaller"
    fig.colorbar(image, ax=ax, label=f"best is {better} than the runner-up by (%)")
    tie = "tie (indistinct)"
    if grid.metric.name == "memory":
        tie = f"tie ({memory_tie_text()}; figures under {MEMORY_RESOLUTION_BYTES // 1024} "
        tie += "KiB count as that)"
    handles = [Line2D([], [], linestyle="", marker="$=$", color="tab:cyan", label=tie)]
    if grid.undecided.any():
        handles.append(_undecided_handle(grid))
    fig.legend(handles=handles, loc="outside lower center", fontsize=8)
    fig.suptitle(_suptitle(grid, meta, f"margin of the {best_word(grid)} method"))
    return fig


def _suptitle(grid: FacetGrid | GainGrid, meta: Mapping[str, object] | None, what: str) -> str:
    return f"{what} — {grid.title}\n{machine_label(meta or {})}"


GAIN_TICKS = (0.125, 0.25, 0.5, 0.67, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2, 4, 8)


def gain_norm(grid: GainGrid) -> LogNorm:
    """A log scale symmetric about 1 (a 2× gain and a 2× loss are equally far from white)."""
    finite = np.concatenate([r[np.isfinite(r)] for r in grid.ratio.values()])
    top = float(np.max(np.abs(np.log(finite)))) if finite.size else 0.0
    top = float(np.exp(max(top, np.log(1.1))))
    return LogNorm(vmin=1 / top, vmax=top)


def draw_allocator_gain(grid: GainGrid, meta: Mapping[str, object] | None = None) -> Figure:
    """A panel per method of ``time(default) / time(steady)``, annotated; blank where either
    allocator's row is missing or not ``ok``. Red: tuning glibc's malloc makes the method faster."""
    rows, cols = _panel_grid(len(grid.methods))
    fig = Figure(figsize=(3.6 * cols + 1.5, 3.2 * rows + 1.2), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    norm, cmap = gain_norm(grid), "RdBu_r"
    image = None
    for ax, method in zip(axes, grid.methods, strict=False):
        data = np.ma.masked_invalid(grid.ratio[method])
        image = ax.imshow(data, origin="lower", cmap=cmap, norm=norm, aspect="auto")
        for y, x in zip(*np.nonzero(np.isfinite(grid.ratio[method])), strict=True):
            value = grid.ratio[method][y, x]
            ink = "white" if luminance(image.cmap(norm(value))) < 0.5 else "black"
            ax.text(x, y, f"{value:.2f}", ha="center", va="center", fontsize=6, color=ink)
        ax.set_title(method, fontsize=9)
        _cell_axes(ax, grid)
    for ax in axes[len(grid.methods) :]:
        ax.set_visible(False)
    bar = fig.colorbar(image, ax=axes[: len(grid.methods)].tolist(),
                       label="default / steady time (> 1: tuning helps)")  # fmt: skip
    bar.set_ticks([t for t in GAIN_TICKS if norm.vmin <= t <= norm.vmax])
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    bar.ax.yaxis.set_minor_formatter(NullFormatter())
    what = "what tuning glibc's malloc would buy: median time, default / steady"
    fig.suptitle(_suptitle(grid, meta, what))
    return fig


def figures(
    path: str | os.PathLike,
    metric: str = "time",
    *,
    methods: Sequence[str] | None = None,
    per: int = 1,
) -> list[tuple[str, Figure]]:
    """Every figure of one results CSV as ``(file stem, Figure)`` pairs, e.g.
    ``("time-d0-s1-p0-float64", fig)``, ``("time-d0-s1-p0-float64-fastest", fig)`` and
    ``("time-d0-s1-p0-float64-margin", fig)``.

    A CSV with rows under both allocators gets these per allocator
    (``time-d0-s1-p0-float64-default``, ``time-d0-s1-p0-float64-steady-fastest``, ...) and,
    whatever the metric, one
    ``allocator-gain-d0-s1-p0-float64`` figure per facet (see :func:`draw_allocator_gain`).
    """
    df, meta = load(path)
    return figures_of(df, meta, metric, methods=methods, per=per)


def figures_of(
    df: pd.DataFrame,
    meta: Mapping[str, object],
    metric: str = "time",
    *,
    methods: Sequence[str] | None = None,
    per: int = 1,
) -> list[tuple[str, Figure]]:
    """:func:`figures` of rows already read (``read_rows``) and their sidecar."""
    out = []
    for grid in facet_grids(df, metric, methods=methods, per=per):
        stem = f"{metric}-{grid.slug}"
        out.append((stem, draw_facet(grid, meta)))
        out.append((f"{stem}-fastest", draw_fastest(grid, meta)))
        out.append((f"{stem}-margin", draw_margin(grid, meta)))
    for gain in allocator_gains(df, methods=methods):
        out.append((f"allocator-gain-{gain.slug}", draw_allocator_gain(gain, meta)))
    return out

"""How good is `auto`, measured as a user's program runs it, on a grid it was not tuned on.

    python benchmarks/bench_auto.py [configs/bench-auto.yaml]       # measure, then report
    python benchmarks/bench_auto.py --from results/bench-auto.csv   # report on rows measured before
    python benchmarks/bench_auto.py --from all.csv auto-again.csv    # later files replace rows

The sweep runs through `convbench run` itself: every (cell, method) in fresh worker processes
forked from a new server each round, glibc's default allocator, 1 BLAS/FFT thread, methods of a
cell interleaved. The time of a (cell, method) is its row's median CPU time per call (the machine is
shared; with one thread it is the wall time of a quiet core), the statistic `convbench tune` fits.

Per dtype it prints `auto` against

- the per-cell best of every registered method (auto excluded): the price of a wrong pick, from
  auto's own row and from the row of the method it runs (the same pick without the noise between
  two rows of one computation: a measure of the decision table alone);
- the best of the *anchors* (:data:`ANCHORS`): the study's methods and their best-known variants,
  scipy's own choice and torch, i.e. what a user would otherwise write or call;
- `scipy-auto` on 2D stride-1 cells, and torch.

and the best direct method's GFLOP/s against the single-thread GEMM peak the run probed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from convbench import tuning
from convbench.advise import fit_times
from convbench.cases import Case
from convbench.fastest import is_tie
from convbench.launch import run_config
from convbench.results import read_meta, read_rows

#: What a user has without convbench: the study's three methods and their published variants
#: (stride-sliced shift-add + mat-vec, as_strided + einsum/tensordot, skimage windows, im2col +
#: GEMM, the polyphase FFT answer, the operator matrix), scipy's choice and its direct correlation,
#: and torch. `loops` is the oracle, never a contender.
ANCHORS = (
    "shift-add",
    "shift-add-strided",
    "strided-view",
    "strided-tensordot",
    "strided-einsum",
    "view-as-windows",
    "fft",
    "fft-polyphase",
    "toeplitz",
    "im2col-gemm",
    "correlate2d",
    "scipy-auto",
    "torch",
)
KEYS = ["input_h", "input_w", "kernel_h", "kernel_w", "depth", "stride_h", "stride_w"]
KEYS += ["pad_h", "pad_w", "dtype", "allocator"]


def cell_times(rows: pd.DataFrame) -> pd.DataFrame:
    """One column per method, one row per cell: the median CPU seconds per call of ``ok`` rows.

    Parameters
    ----------
    rows : results rows (``convbench.results.read_rows``); rows not ``ok`` are left out.

    Returns
    -------
    DataFrame indexed by the cell keys (:data:`KEYS`), NaN where a method has no ``ok`` row.
    """
    ok = rows[rows["status"] == "ok"].copy()
    ok["t"] = fit_times(ok)
    keys = [k for k in KEYS if k in ok.columns]
    return ok.pivot_table(index=keys, columns="method", values="t", aggfunc="median")


def _line(label: str, values: Iterable[float], worst=max) -> str:
    values = list(values)
    if not values:
        return f"{label}: no cells"
    return (
        f"{label}: median {statistics.median(values):.2f}x, worst {worst(values):.2f}x "
        f"({len(values)} cells)"
    )


def _label(cell: tuple, keys: list[str]) -> str:
    k = dict(zip(keys, cell, strict=True))
    depth = f"x{k['depth']}" if k["depth"] else ""
    return (
        f"{k['input_h']}x{k['input_w']}{depth} * {k['kernel_h']}x{k['kernel_w']} s{k['stride_h']}"
    )


def auto_choice(cell: tuple, keys: list[str]) -> str:
    """The method ``auto`` runs for ``cell`` here (this install's decision table and methods)."""
    from convbench.methods.auto import choice

    return choice(Case.from_key({**dict(zip(keys, cell, strict=True)), "batch": 0, "filters": 0}))


def _pick_lines(times: pd.DataFrame, best: pd.Series, pick: Callable[[tuple, list[str]], str]):
    keys = list(times.index.names)
    picked = pd.Series({cell: pick(cell, keys) for cell in times.index}, dtype=object)
    runs = pd.Series(
        {c: times.at[c, m] if m in times else float("nan") for c, m in picked.items()}
    ).dropna()
    if runs.empty:
        return []
    own = (times.loc[runs.index, "auto"] / runs).sort_values()
    lines = [_line("the method auto runs / per-cell best", runs / best[runs.index])]
    lo, hi = own.quantile([0.1, 0.9])
    lines.append(
        f"  auto's row / its pick's row (dispatch + noise between two rows): median "
        f"{own.median():.2f}x, 10-90% {lo:.2f}x..{hi:.2f}x"
    )
    return lines


def _tie(a: dict | None, b: dict | None, margin: float) -> bool:
    return is_tie(a or {}, b or {}, margin, cpu=True)


def auto_lines(
    times: pd.DataFrame,
    rows: dict | None = None,
    pick: Callable[[tuple, list[str]], str] | None = None,
) -> list[str]:
    """The acceptance lines of one dtype's cells (``times`` from :func:`cell_times`).

    ``rows`` (``{(cell, method): row}``) lets a cell where auto is slower than the best anchor be
    told apart from a tie (:func:`convbench.fastest.is_tie`, on CPU samples); ``pick`` names the
    method auto runs in a cell (default: none, the line is left out).
    """
    if "auto" not in times:
        return ["no auto rows"]
    keys = list(times.index.names)
    times = times[times["auto"].notna()]
    others = times.drop(columns="auto")
    best = others.min(axis=1)
    vs_best = times["auto"] / best
    lines = [_line("auto / per-cell best of every method", vs_best)]
    close = int((vs_best <= 1.10).sum())
    lines.append(f"  auto within 1.10x of the best in {close}/{len(vs_best)} cells")
    if pick is not None:
        lines += _pick_lines(times, best, pick)
    anchors = others[[m for m in ANCHORS if m in others]]
    has = anchors.notna().any(axis=1)
    best_anchor = anchors[has].min(axis=1)
    speedup = best_anchor / times.loc[has, "auto"]
    lines.append(_line("best anchor / auto (speed-up)", speedup, min))
    slower = speedup[speedup < 1]
    winners = anchors[has].idxmin(axis=1)
    rows = rows or {}
    tied = {
        cell
        for cell, ratio in slower.items()
        if _tie(rows.get((cell, winners[cell])), rows.get((cell, "auto")), 1 / ratio)
    }
    lines.append(
        f"  auto slower than the best anchor in {len(slower)}/{len(speedup)} cells, "
        f"{len(slower) - len(tied)} beyond the noise between processes"
    )
    for cell, ratio in slower.sort_values().items():
        tie = " (tie)" if cell in tied else ""
        lines.append(f"    {_label(cell, keys)}: x{ratio:.2f} vs {winners[cell]}{tie}")
    if "scipy-auto" in times:
        scipy = times["scipy-auto"] / times["auto"]
        flat = [
            r
            for cell, r in scipy.dropna().items()
            if dict(zip(keys, cell, strict=True))["depth"] == 0
            and dict(zip(keys, cell, strict=True))["stride_h"] == 1
        ]
        lines.append(_line("scipy-auto / auto, 2D stride-1 cells (speed-up)", flat, min))
        lines.append(_line("scipy-auto / auto, all cells (speed-up)", scipy.dropna(), min))
    if "torch" in times:
        torch = (times["torch"] / times["auto"]).dropna()
        lines.append(_line("torch / auto (speed-up)", torch, min))
    else:
        lines.append("torch: not measured (not installed?)")
    return lines


def gflops_lines(rows: pd.DataFrame, peak: float | None) -> list[str]:
    """Best GFLOP/s of the direct family and of jit-direct, as % of the GEMM ``peak``."""
    ok = rows[(rows["status"] == "ok") & (rows["family"] == "direct")]
    lines = []
    for label, part in (("direct family", ok), ("jit-direct", ok[ok["method"] == "jit-direct"])):
        g = pd.to_numeric(part["gflops"], errors="coerce").dropna()
        if g.empty:
            continue
        share = f" ({100 * g.max() / peak:.0f}% of the GEMM peak)" if peak else ""
        lines.append(f"best {label} GFLOP/s: median {g.median():.1f}, max {g.max():.1f}{share}")
    if peak:
        lines.append(f"GEMM peak probed by the run (1 thread): {peak:.1f} GFLOP/s")
    return lines


def latest_rows(paths: list[Path]) -> pd.DataFrame:
    """The rows of ``paths``; where several files have a (cell, method), the last file's rows
    (the rule of ``convbench tune --from``: :func:`convbench.tuning.latest_rows`)."""
    return tuning.latest_rows([read_rows(p) for p in paths])


def cell_rows(rows: pd.DataFrame) -> dict:
    """``{(cell, method): row}`` of the ``ok`` rows, cells keyed as in :func:`cell_times`."""
    ok = rows[rows["status"] == "ok"]
    keys = [k for k in KEYS if k in ok.columns]
    return {(tuple(r[k] for k in keys), r["method"]): r for r in ok.to_dict("records")}


def report(
    rows: pd.DataFrame,
    peak: float | None,
    pick: Callable[[tuple, list[str]], str] | None = None,
) -> list[str]:
    """Every dtype's acceptance lines, then the GFLOP/s lines (``pick``: see :func:`auto_lines`)."""
    times = cell_times(rows)
    by_cell = cell_rows(rows)
    lines = []
    for dtype, part in times.groupby(level="dtype"):
        lines.append(f"== {dtype}")
        lines += auto_lines(part.dropna(axis=1, how="all"), by_cell, pick)
    return lines + gflops_lines(rows, peak)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/bench-auto.yaml")
    parser.add_argument("-o", "--output", default="results/bench-auto.csv")
    parser.add_argument(
        "--from",
        dest="source",
        nargs="+",
        help="report on these CSVs, measure nothing; a row of a later file replaces the same "
        "(cell, method) of an earlier one (e.g. auto re-measured after a refit)",
    )
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    args = parser.parse_args(argv)
    csvs = [Path(p) for p in args.source or [args.output]]
    if not args.source:
        run_config(
            args.config,
            output=csvs[0],
            resume=args.resume,
            overwrite=not args.resume,
            progress=True,
        )
    peak = read_meta(csvs[0]).get("gemm_peak_gflops")
    print("\n".join(report(latest_rows(csvs), peak, pick=auto_choice)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

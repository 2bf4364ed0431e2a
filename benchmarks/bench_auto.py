"""How good is `auto`? Ratios measured side by side in one process, on a grid it was not tuned on.

    python benchmarks/bench_auto.py [configs/bench-auto.yaml]      # the ratios (make bench-auto)
    python benchmarks/bench_auto.py convbench/data/tune.yaml --csv out.csv  # rows for `tune --from`

Every method runs on every cell of the sweep with 1 BLAS/FFT thread, float64 unless the config says
otherwise; the time of a (cell, method) is the median CPU time per call over a few calibrated
samples (CPU time: the machine is shared, and with one thread it is what the wall time would be on
a quiet core). Methods over the config's memory limit, or excluded by its skip rules, are not run.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from convbench.cases import Case, make_inputs
from convbench.config import load_sweep
from convbench.locks import measuring_lock, output_lock
from convbench.methods import registered
from convbench.results import RowWriter, make_row

MIN_SAMPLE_S = 0.003
SAMPLES = 5


def _cpu_per_call(call, loops: int) -> float:
    start = time.process_time()
    for _ in range(loops):
        call()
    return (time.process_time() - start) / loops


def time_call(call, budget_s: float) -> tuple[float, list[float]]:
    """Median CPU seconds per call (and the samples); one sample when a call exceeds the budget."""
    first = _cpu_per_call(call, 1)  # warm-up (and plan caches)
    if first > budget_s:
        return first, [first]
    loops = max(1, int(MIN_SAMPLE_S / max(first, 1e-6)))
    gc.disable()
    try:
        samples = [_cpu_per_call(call, loops) for _ in range(SAMPLES)]
    finally:
        gc.enable()
    return statistics.median(samples), samples


def measure(sweep, writer: RowWriter | None = None) -> dict[Case, dict[str, float]]:
    """Time every method of ``sweep`` on every case; ``{case: {method: seconds}}``."""
    methods = [m for m in registered().values() if m.name in {e.name for e in sweep.methods}]
    times: dict[Case, dict[str, float]] = {}
    rng = np.random.default_rng(sweep.seed)
    for n, case in enumerate(sweep.cases, 1):
        x, k = make_inputs(case, rng)
        times[case] = {}
        for method in methods:
            if method.supports(case) or sweep.skip_reason(case, method.name):
                continue
            if method.estimate_bytes(case) > sweep.memory_limit:
                continue

            def call(m=method, x=x, k=k, s=case.stride, p=case.padding):
                return m.func(x, k, s, p)

            median, samples = time_call(call, sweep.time_budget_s)
            times[case][method.name] = median
            if writer is not None:
                writer.write(
                    make_row(
                        case,
                        method.name,
                        method.family,
                        "ok",
                        repeats=len(samples),
                        time_median_s=median,
                        cpu_median_s=median,
                        samples_s=samples,
                        cpu_samples_s=samples,
                        estimated_bytes=int(method.estimate_bytes(case)),
                        gflops=case.flops / median / 1e9,
                    )
                )
        print(f"[{n}/{len(sweep.cases)}] {case.label()}", file=sys.stderr, flush=True)
    return times


def gemm_peak_gflops(n: int = 1024) -> float:
    a = np.random.default_rng(0).uniform(size=(n, n))
    median, _ = time_call(lambda: a @ a, 10.0)
    return 2 * n**3 / median / 1e9


def _ratio_line(label: str, values: list[float], worst=max) -> str:
    if not values:
        return f"{label}: no cells"
    return (
        f"{label}: median {statistics.median(values):.2f}x, worst {worst(values):.2f}x "
        f"({len(values)} cells)"
    )


def report(times: dict[Case, dict[str, float]], peak: float) -> list[str]:
    """The summary lines: auto vs best, vs scipy-auto, vs torch, GFLOP/s vs GEMM peak."""
    fam = {m.name: m.family for m in registered().values()}
    lines = []
    auto_vs_best, picks_best = [], 0
    for t in times.values():
        others = {m: v for m, v in t.items() if m != "auto"}
        if "auto" in t and others:
            best = min(others.values())
            auto_vs_best.append(t["auto"] / best)
            picks_best += t["auto"] <= 1.10 * best
    lines.append(_ratio_line("auto / per-cell best of all methods", auto_vs_best))
    lines.append(f"  auto within 1.10x of the best in {picks_best}/{len(auto_vs_best)} cells")

    def speedup(case_filter, other):
        return [
            t[other] / t["auto"]
            for c, t in times.items()
            if case_filter(c) and other in t and "auto" in t
        ]

    flat = speedup(lambda c: c.depth == 0 and c.stride == (1, 1), "scipy-auto")
    deep = speedup(lambda c: c.depth > 0 and max(c.stride) > 1, "scipy-auto")
    every = speedup(lambda c: True, "scipy-auto")
    lines.append(_ratio_line("scipy-auto / auto, 2D stride-1 cells (speed-up)", flat, min))
    lines.append(_ratio_line("scipy-auto / auto, depth+stride cells (speed-up)", deep, min))
    lines.append(_ratio_line("scipy-auto / auto, all cells (speed-up)", every, min))
    torch = speedup(lambda c: True, "torch")
    if torch:
        faster = sum(r > 1 for r in torch)
        lines.append(f"auto faster than torch in {faster}/{len(torch)} cells")
    else:
        lines.append("torch vs auto: no cells with both (torch not installed?), skipped")
    for family in ("direct", "gemm"):
        best = [
            max(c.flops / v / 1e9 for m, v in t.items() if fam.get(m) == family)
            for c, t in times.items()
            if any(fam.get(m) == family for m in t)
        ]
        if best:
            lines.append(
                f"best {family}-family GFLOP/s: median {statistics.median(best):.1f}, "
                f"max {max(best):.1f} ({100 * max(best) / peak:.0f}% of the GEMM peak)"
            )
    lines.append(f"float64 GEMM peak (1024x1024 matmul, 1 thread): {peak:.1f} GFLOP/s")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/bench-auto.yaml")
    parser.add_argument("--csv", help="also write results rows (for `convbench tune --from`)")
    args = parser.parse_args(argv)
    sweep = load_sweep(args.config)
    with threadpool_limits(1), measuring_lock():  # one measurement per machine (README, run)
        peak = gemm_peak_gflops()
        if args.csv:
            with output_lock(args.csv), RowWriter(args.csv, overwrite=True) as writer:
                times = measure(sweep, writer)
            print(f"rows written to {args.csv}")
        else:
            times = measure(sweep)
    print("\n".join(report(times, peak)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

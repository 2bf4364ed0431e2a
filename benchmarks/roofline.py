"""How far is a direct method from what the machine allows: the GEMM peak, or reading its input?

A direct correlation does ``2 * Ho * Wo * kh * kw * C`` flops and must read the ``H * W * C``
input at least once. At stride ``s`` each input value feeds only ``kh * kw / s**2`` multiply-adds,
so for small kernels at large strides the time is bounded by how fast the input can be read, not
by the multiply-add peak (the roofline model). This script measures that read rate for each input
of a results CSV, in fresh plain processes, and prints per row:

    attainable = flops / max(flops / GEMM peak, input bytes / read rate)

and the row's GFLOP/s as a share of the GEMM peak (what ``plot --metric gflops`` shows) and of
the attainable rate.

    python benchmarks/roofline.py results/bench-auto-jit.csv --method jit-direct \
        --min-depth 3 --max-kernel 11

The read rate of an input is the best of ``--repeats`` passes of ``numpy.dot(v, v)`` (one BLAS
thread) over a float64 vector of the input's byte size, after one untimed pass: the input a
method is handed has been read before too (the calibrated loop calls it many times), so it sits
in whatever cache level holds that many bytes. Cost: ~0.5 s per distinct input size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from convbench.results import read_meta

PROBE = """
import sys, time
from threadpoolctl import threadpool_limits
import numpy as np
n_bytes, repeats = int(sys.argv[1]), int(sys.argv[2])
v = np.random.default_rng(0).random(max(1, n_bytes // 8))
best = float("inf")
with threadpool_limits(1):
    v @ v
    for _ in range(repeats):
        t0 = time.perf_counter()
        v @ v
        best = min(best, time.perf_counter() - t0)
print(v.nbytes / best)
"""


def read_rate(n_bytes: int, repeats: int) -> float:
    """Bytes per second ``numpy.dot`` reads a resident vector of ``n_bytes``, fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(n_bytes), str(repeats)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--method", default="jit-direct")
    parser.add_argument("--min-depth", type=int, default=0)
    parser.add_argument("--max-kernel", type=int, default=10**9)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    peak = read_meta(args.csv).get("gemm_peak_gflops")
    if not peak:
        raise SystemExit(f"{args.csv}: its sidecar records no gemm_peak_gflops")
    df = pd.read_csv(args.csv)
    rows = df[
        (df["method"] == args.method)
        & (df["status"] == "ok")
        & (df["depth"] >= args.min_depth)
        & (df["kernel_h"] <= args.max_kernel)
    ]
    if rows.empty:
        raise SystemExit(f"{args.csv}: no ok rows of {args.method} with those filters")
    item = rows["dtype"].map(lambda d: np.dtype(d).itemsize)
    channels = rows["depth"].clip(lower=1)
    in_bytes = rows["input_h"] * rows["input_w"] * channels * item
    rates = {int(b): read_rate(int(b), args.repeats) for b in sorted(set(in_bytes))}
    rate = in_bytes.map(lambda b: rates[int(b)])
    flops = rows["gflops"] * 1e9 * rows["time_median_s"]
    bound_s = np.maximum(flops / (peak * 1e9), in_bytes / rate)
    table = rows[["dtype", "input_h", "kernel_h", "depth", "stride_h"]].assign(
        in_kib=(in_bytes / 1024).round(0).astype(int),
        read_gb_s=(rate / 1e9).round(1),
        gflops=rows["gflops"].round(1),
        of_peak=(100 * rows["gflops"] / peak).round(0).astype(int),
        attainable=(flops / bound_s / 1e9).round(1),
        of_attainable=(100 * bound_s / rows["time_median_s"]).round(0).astype(int),
    )
    print(
        f"GEMM peak {peak:.1f} GFLOP/s ({args.csv}); read rates: "
        + json.dumps({f"{b // 1024} KiB": f"{r / 1e9:.1f} GB/s" for b, r in rates.items()})
    )
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()

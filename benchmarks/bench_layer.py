"""Layer mode against the machine's GEMM peak and torch, one thread, side by side in one run.

Usage: ``python benchmarks/bench_layer.py [--dtype float32|float64] [--quick] [--samples K]``

Prints the single-core GEMM peak (a ~1024^2 matmul in the same dtype), every layer method's
GFLOP/s on mid-size cells of configs/layer.yaml, the best method's % of the GEMM peak, and the
best method against torch per cell and in the median cell. Times are CPU-time medians (with
one thread, CPU time is the robust figure on a shared machine).
"""

from __future__ import annotations

import os

# Pin every pool to one thread before numpy, scipy or torch start theirs.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from convbench.cases import Case  # noqa: E402
from convbench.layer import make_inputs, reference, registered  # noqa: E402
from convbench.locks import measuring_lock  # noqa: E402

#: Methods too slow (or too large) for mid-size cells; they are exercised by the tests.
SLOW = {"loops", "strided-einsum", "operator-matrix"}

#: Mid-size cells of configs/layer.yaml: (N, size, C, F, k, stride, padding).
MID_CELLS = [
    (8, 56, 64, 64, 3, 1, 1),
    (8, 56, 32, 64, 3, 2, 1),
    (16, 32, 64, 64, 3, 1, 1),
    (8, 56, 64, 64, 1, 1, 0),
    (4, 112, 16, 32, 3, 1, 1),
    (8, 56, 32, 32, 5, 1, 2),
    (4, 112, 3, 16, 7, 2, 3),
]
QUICK_CELLS = [(4, 32, 32, 32, 3, 1, 1), (4, 32, 3, 16, 3, 2, 1)]


def cpu_median(func: Callable[[], object], samples: int, min_s: float = 0.05) -> float:
    """Median CPU seconds per call over ``samples`` samples of a calibrated number of loops."""
    func()
    loops = 1
    while True:
        t0 = time.process_time()
        for _ in range(loops):
            func()
        spent = time.process_time() - t0
        if spent >= min_s:
            break
        loops *= 2
    times = [spent / loops]
    for _ in range(samples - 1):
        t0 = time.process_time()
        for _ in range(loops):
            func()
        times.append((time.process_time() - t0) / loops)
    return statistics.median(times)


def gemm_peak(dtype: str, samples: int, size: int = 1024) -> float:
    """GFLOP/s of a (size, size) @ (size, size) matmul, one thread."""
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (size, size)).astype(dtype)
    b = rng.uniform(-1, 1, (size, size)).astype(dtype)
    return 2 * size**3 / cpu_median(lambda: a @ b, samples) / 1e9


def torch_conversion_s(x: np.ndarray, w: np.ndarray, samples: int) -> float:
    """CPU seconds of the NHWC<->NCHW conversions a user doing it by hand would pay."""
    import torch

    def convert() -> None:
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
        wt = torch.from_numpy(w).permute(3, 2, 0, 1).contiguous()
        xt.permute(0, 2, 3, 1).contiguous()
        del wt

    return cpu_median(convert, samples)


def run(dtype: str, cells: list[tuple], samples: int) -> None:
    try:
        import torch

        torch.set_num_threads(1)
        has_torch = True
    except ImportError:
        has_torch = False
    peak = gemm_peak(dtype, samples)
    print(f"single-core GEMM peak ({dtype}, 1024^2 matmul): {peak:.1f} GFLOP/s")
    methods = {k: m for k, m in registered().items() if k not in SLOW}
    names = list(methods)
    print(f"{'cell':42s}" + "".join(f"{n[:13]:>14s}" for n in names) + "  best %peak  best/torch")
    vs_torch = []
    rng = np.random.default_rng(0)
    for n, size, c, f, k, s, p in cells:
        case = Case((size, size), (k, k), c, (s, s), (p, p), dtype, n, f)
        x, w = make_inputs(case, rng)
        expected = reference(x, w, case.stride, case.padding)
        rates = {}
        for name, method in methods.items():
            if method.supports(case):
                continue
            args = (x, w, case.stride, case.padding)
            call = lambda m=method, a=args: m.func(*a)  # noqa: E731
            err = np.abs(call() - expected).max()
            assert err < 1e-2 if dtype == "float32" else err < 1e-8, (name, err)
            rates[name] = case.flops / cpu_median(call, samples) / 1e9
        best = max((r, m) for m, r in rates.items() if m not in ("torch-conv2d", "auto"))
        row = "".join(f"{rates[m]:14.1f}" if m in rates else f"{'-':>14s}" for m in names)
        tail = f"  {best[1]} {100 * best[0] / peak:4.0f}%"
        if "torch-conv2d" in rates:
            ratio = best[0] / rates["torch-conv2d"]
            vs_torch.append((ratio, case.label()))
            conv = torch_conversion_s(x, w, samples) * 1e3
            tail += f"  {ratio:5.2f}x (hand NCHW copies {conv:.2f} ms)"
        print(f"{case.label():42s}{row}{tail}")
    print("(GFLOP/s = useful flops of the direct definition / CPU-time median)")
    if vs_torch and has_torch:
        vs_torch.sort()
        ratio, label = vs_torch[len(vs_torch) // 2]
        print(f"median cell vs torch: {label}: best numpy method at {ratio:.2f}x torch's speed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], action="append")
    parser.add_argument("--quick", action="store_true", help="two small cells only")
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    with measuring_lock():  # one measurement per machine (README, run)
        for dtype in args.dtype or ["float32", "float64"]:
            run(dtype, QUICK_CELLS if args.quick else MID_CELLS, args.samples)


if __name__ == "__main__":
    main()

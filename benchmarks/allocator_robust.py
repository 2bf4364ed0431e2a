"""Do convbench's own methods stay fast in a plain process? Default glibc malloc against steady.

For each method (default: every registered method of origin ``convbench`` except ``auto``, which
runs one of them) and each of a few realistic cells, time the method in fresh plain ``python -c``
processes: glibc's default allocator, and the ``steady`` one set through the environment
(``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=2147483647``), one BLAS/OpenMP thread,
not pinned. The two settings alternate process by process (default, steady, default, ...) so
that both see the same machine; each process reports its CPU median per call after a warm-up
(the runner's calibrated loop), and a cell's figure is the median over its processes. The table
gives default / steady per (method, cell), and the summary how many are within x1.15.

    python benchmarks/allocator_robust.py [--methods a,b] [--cells N] [--processes N]

Cost: about 0.6 s of start-up plus ~0.4 s of timing per process,
``2 * processes * methods * cells`` processes (~4 min for the defaults on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

from convbench.cases import Case
from convbench.methods import registered

#: The ratio default / steady a method should stay within.
WITHIN = 1.15
#: What ``allocator: steady`` sets, as a plain program would (glibc reads these at start-up).
STEADY_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "2147483647"}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: Cells where a method's estimate is above this are left out (every window copied).
MAX_BYTES = 256 * 2**20

CELLS = (
    Case((300, 300), (25, 25)),
    Case((200, 200), (7, 7), 3, (2, 2)),
    Case((128, 128), (5, 5), 5, (2, 2)),
    Case((200, 200), (5, 5), 10, (5, 5)),
    Case((256, 256), (9, 9), 5, (2, 2)),
    Case((256, 256), (3, 3)),
    Case((192, 192), (15, 15), 3, (3, 3), (1, 1)),
    Case((160, 160), (31, 31), 4, (4, 4)),
)

SCRIPT = """
import json, sys
from convbench.cases import Case
from convbench.measure.inputs import case_inputs
from convbench.measure.timing import time_call
from convbench.methods import get_method
req = json.loads(sys.argv[1])
case, func = Case.from_key(req["case"]), get_method(req["method"]).func
x, k = case_inputs(case, 0)
t = time_call(lambda: func(x, k, case.stride, case.padding), warmup=2, min_sample_s=0.02,
              repeats=9, min_repeats=3, budget_s=2.0)
print(json.dumps({"cpu_median_s": t.cpu_median_s}))
"""


def default_methods() -> list[str]:
    return [m.name for m in registered().values() if m.origin == "convbench" and m.family != "auto"]


def time_in_plain_process(method: str, case: Case, allocator: str) -> float:
    """CPU median seconds per call of ``method`` on ``case`` in a fresh ``python -c`` process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(dict.fromkeys(THREAD_VARS, "1"))
    if allocator == "steady":
        env.update(STEADY_ENV)
    req = json.dumps({"case": case.key(), "method": method})
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, req], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["cpu_median_s"]


def measure(methods: list[str], cells: tuple[Case, ...], processes: int) -> dict:
    """``{(method, cell label): {"default": [s, ...], "steady": [s, ...]}}``, interleaved."""
    times: dict = {}
    for _ in range(processes):
        for case in cells:
            for name in methods:
                if registered()[name].estimate_bytes(case) > MAX_BYTES:
                    continue
                slot = times.setdefault((name, case.label()), {"default": [], "steady": []})
                for allocator in ("default", "steady"):
                    slot[allocator].append(time_in_plain_process(name, case, allocator))
    return times


def table(times: dict) -> list[str]:
    lines = [f"{'method':<20} {'cell':<34} {'default ms':>10} {'steady ms':>10} {'ratio':>7}"]
    ratios: dict[str, list[float]] = {}
    for (name, label), slot in times.items():
        d, s = float(np.median(slot["default"])), float(np.median(slot["steady"]))
        ratios.setdefault(name, []).append(d / s)
        lines.append(f"{name:<20} {label:<34} {d * 1e3:>10.3f} {s * 1e3:>10.3f} {d / s:>7.2f}")
    every = [r for rs in ratios.values() for r in rs]
    within = sum(r <= WITHIN for r in every)
    lines.append("")
    lines.append(f"default / steady within x{WITHIN}: {within}/{len(every)} (method, cell) pairs")
    for name, rs in ratios.items():
        n = sum(r <= WITHIN for r in rs)
        lines.append(
            f"  {name:<20} {n}/{len(rs)} within, median x{np.median(rs):.2f}, worst x{max(rs):.2f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", help="comma-separated names (default: convbench's own)")
    parser.add_argument("--cells", type=int, default=len(CELLS), help="the first N cells")
    parser.add_argument("--processes", type=int, default=3, help="processes per allocator")
    args = parser.parse_args()
    methods = args.methods.split(",") if args.methods else default_methods()
    unknown = [m for m in methods if m not in registered()]
    if unknown:
        parser.error(f"unknown methods: {', '.join(unknown)}")
    times = measure(methods, CELLS[: args.cells], args.processes)
    print("\n".join(table(times)))


if __name__ == "__main__":
    main()

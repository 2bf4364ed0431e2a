"""Does importing a library change other methods' times? Fresh plain processes, with and without.

    python benchmarks/import_state.py --module torch --method fft-polyphase --processes 4

Each process imports ``--module`` (or not), builds the inputs of the case and times the method
(median CPU time per call); the two kinds of process alternate. A library whose import allocates
and frees large blocks grows glibc's adaptive mmap threshold, and every later temporary of that
size then comes from the heap instead of fresh pages: the reason sweeps preload torch for the
torch workers only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

SCRIPT = """
import sys, time
if sys.argv[1]:
    __import__(sys.argv[1])
import numpy as np
from convbench.cases import Case
from convbench.measure.inputs import case_inputs
from convbench.methods.resolve import resolve_method
n, f, c, s = map(int, sys.argv[3:7])
case = Case((n, n), (f, f), c, (s, s))
m = resolve_method(sys.argv[2])
x, k = case_inputs(case, 0)
m.func(x, k, case.stride, case.padding)
samples = []
for _ in range(7):
    t0 = time.process_time()
    for _ in range(10):
        m.func(x, k, case.stride, case.padding)
    samples.append((time.process_time() - t0) / 10)
print(float(np.median(samples)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default="torch")
    parser.add_argument("--method", default="fft-polyphase")
    parser.add_argument("--case", default="128,45,4,3", help="n,f,depth,stride")
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    times: dict[str, list[float]] = {"plain": [], args.module: []}
    for _ in range(args.processes):
        for label, module in (("plain", ""), (args.module, args.module)):
            cmd = [sys.executable, "-c", SCRIPT, module, args.method, *args.case.split(",")]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
            times[label].append(float(out.stdout.split()[-1]))
    for label, values in times.items():
        ms = " ".join(f"{v * 1e3:.3f}" for v in values)
        print(f"{label:>8}: median {statistics.median(values) * 1e3:.3f} ms ({ms})")


if __name__ == "__main__":
    main()

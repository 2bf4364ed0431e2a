"""Do convbench's times hold in a user's program? Re-time rows of a results CSV in plain processes.

For each of ``--rows`` ``ok`` rows drawn at random from the CSV (default allocator rows only),
start a plain ``python -c`` process - no fork server, no worker, no ``mallopt``, not pinned to a
CPU: glibc's default allocator and the sweep's thread count set through the usual environment
variables, as a user's script has them - which imports numpy, scipy and convbench, builds the
same inputs, and times the method with the same calibrated loop the runner uses, all its samples
in that one process. Then it prints, per row, the plain-process median CPU time over what the row
says, and the summary: the share within x1.2 and the median ratio.

    python benchmarks/plain_process.py results/quick.csv --rows 40 --out results/plain-process.md

Cost: about 1 s of start-up plus the row's sampling time per row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from convbench.cases import Case
from convbench.results import read_meta, read_rows

SCRIPT = """
import json, sys
import numpy as np, scipy.fft, scipy.signal
import convbench
from convbench.cases import Case
from convbench.measure.inputs import case_inputs
from convbench.measure.timing import time_call
from convbench.methods.resolve import resolve_method
req = json.loads(sys.argv[1])
case = Case.from_key(req["case"])
method = resolve_method(req["spec"])
x, k = case_inputs(case, req["seed"])
t = time_call(lambda: method.func(x, k, case.stride, case.padding), warmup=req["warmup"],
              min_sample_s=req["min_sample_s"], repeats=req["repeats"], min_repeats=3)
print(json.dumps({"cpu_median_s": t.cpu_median_s, "median_s": t.median_s}))
"""


def retime(row: dict, meta: dict) -> dict:
    config = meta.get("config", {})
    timing = config.get("timing", {})
    specs = {m["name"]: m["spec"] for m in meta.get("methods", [])}
    threads = str(meta.get("threads", 1))
    req = {
        "case": Case.from_key(row).key(),
        "spec": specs.get(row["method"], row["method"]),
        "seed": config.get("seed", 0),
        "warmup": timing.get("warmup", 1),
        "min_sample_s": timing.get("min_sample_s", 0.02),
        "repeats": int(row["repeats"]),
    }
    env = {**os.environ, **{v: threads for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                  "MKL_NUM_THREADS")}}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(req)],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-call-s", type=float, default=0.2, help="skip slower rows")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    df, meta = read_rows(args.csv), read_meta(args.csv)
    ok = df[(df["status"] == "ok") & (df["allocator"] == "default") & (df["family"] != "user")]
    ok = ok[ok["time_median_s"] <= args.max_call_s]
    picked = ok.sample(n=min(args.rows, len(ok)), random_state=args.seed)
    lines = [
        f"# Plain-process re-timing of {args.csv} ({len(picked)} random ok rows)",
        "",
        "| method | case | convbench CPU median | plain process | ratio |",
        "|---|---|---|---|---|",
    ]
    ratios = []
    for row in picked.to_dict("records"):
        plain = retime(row, meta)
        ratio = plain["cpu_median_s"] / row["cpu_median_s"]
        ratios.append(ratio)
        label = Case.from_key(row).label()
        lines.append(
            f"| {row['method']} | {label} | {row['cpu_median_s'] * 1e3:.4g} ms | "
            f"{plain['cpu_median_s'] * 1e3:.4g} ms | x{ratio:.3f} |"
        )
        print(lines[-1], file=sys.stderr)
    r = np.array(ratios)
    within = np.mean((r <= 1.2) & (r >= 1 / 1.2))
    summary = (
        f"{100 * within:.0f} % of {len(r)} rows within x1.2 of what convbench reported; "
        f"median ratio x{np.median(r):.3f} (plain / convbench), 10-90 % "
        f"x{np.quantile(r, 0.1):.3f}..x{np.quantile(r, 0.9):.3f}"
    )
    lines[1:1] = ["", summary]
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(summary)


if __name__ == "__main__":
    main()

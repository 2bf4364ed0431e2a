"""How often ``convbench compare`` of two single runs is right, on this machine.

Runs ``configs/ci.yaml`` (plus copies of ``shift-add`` slowed by exactly x1.10 and x1.25, see
``slow_plugin.py``) ``--runs`` times, each a plain ``convbench run`` of its own, first on the
machine as it is, then with a noisy neighbour: a process that streams 64 MiB arrays (memory
bandwidth and shared cache) on a CPU the workers do not use, started and stopped by this script
and bounded in time. Then every pair of runs (i < j) of one condition is compared as
``convbench compare run_i.csv run_j.csv`` would:

- A/A: the real methods of run i against the same methods of run j: does compare exit 1?
- detection: ``shift-add`` of run i against ``slow-x1.25`` (and ``slow-x1.10``) of run j, renamed:
  how many of the cells read ``regressed``; does any read ``improved``?

    python benchmarks/compare_quality.py --runs 7 --out results/compare-quality
    python benchmarks/compare_quality.py --out results/compare-quality --evaluate-only

Writes ``summary.md`` beside the runs' CSVs. Cost: ~50 s per run on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from convbench.compare import Thresholds, compare_frames
from convbench.results import read_rows

ROOT = Path(__file__).resolve().parents[1]
SLOWED = {"slow-x1.10": "shift_add_x110", "slow-x1.25": "shift_add_x125"}
CONDITIONS = ("quiet", "neighbour")

HOG = """
import os, sys, time
import numpy as np
os.sched_setaffinity(0, {int(sys.argv[1])})
end = time.monotonic() + float(sys.argv[2])
src, dst = np.ones(8 << 20), np.empty(8 << 20)  # 64 MiB each: far beyond any cache
while time.monotonic() < end:
    np.copyto(dst, src)
"""


def quality_config(out: Path) -> Path:
    raw = yaml.safe_load((ROOT / "configs" / "ci.yaml").read_text())
    raw["methods"] = list(raw["methods"]) + [
        {name: f"benchmarks.slow_plugin:{func}"} for name, func in SLOWED.items()
    ]
    raw["description"] = "compare quality: configs/ci.yaml with slowed shift-add plugins"
    path = out / "quality.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def neighbour_cpu() -> int | None:
    """A CPU the workers are not pinned to (they take the last one by default)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return cpus[0] if len(cpus) > 1 else None


def measure(out: Path, runs: int) -> None:
    config = quality_config(out)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for condition in CONDITIONS:
        for i in range(runs):
            csv = out / f"{condition}-{i}.csv"
            hog = None
            if condition == "neighbour":
                cpu = neighbour_cpu()
                if cpu is None:
                    print("one CPU only: no neighbour runs", file=sys.stderr)
                    return
                hog = subprocess.Popen([sys.executable, "-c", HOG, str(cpu), "600"])
            t0 = time.perf_counter()
            try:
                cli = str(Path(sys.executable).with_name("convbench"))
                subprocess.run(
                    [cli, "run", str(config), "-o", str(csv), "--overwrite", "--no-progress"],
                    check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                )  # fmt: skip
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
            print(f"{csv.name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def renamed(df: pd.DataFrame, method: str, as_name: str) -> pd.DataFrame:
    part = df[df["method"] == method].copy()
    part["method"] = as_name
    return part


def evaluate(out: Path, thresholds: Thresholds) -> list[str]:
    lines = [
        "| condition | pairs | A/A pairs failing (exit 1) | A/A cells regressed | "
        "x1.10 cells caught | x1.25 cells caught | slowed cells `improved` |",
        "|---|---|---|---|---|---|---|",
    ]
    for condition in CONDITIONS:
        runs = sorted(out.glob(f"{condition}-*.csv"))
        frames = [read_rows(p) for p in runs]
        if len(frames) < 2:
            continue
        real = [f[~f["method"].isin(list(SLOWED))] for f in frames]
        failing = regressed = cells = 0
        caught = {name: [0, 0] for name in SLOWED}
        improved = 0
        pairs = list(itertools.combinations(range(len(frames)), 2))
        for i, j in pairs:
            aa = compare_frames(real[i], real[j], thresholds)
            failing += aa.failed
            regressed += aa.count("regressed")
            cells += len(aa.cells)
            for name in SLOWED:
                c = compare_frames(
                    renamed(frames[i], "shift-add", "m"), renamed(frames[j], name, "m"), thresholds
                )
                caught[name][0] += c.count("regressed")
                caught[name][1] += len(c.cells)
                improved += c.count("improved")
        share = {n: f"{100 * a / b:.1f} % ({a}/{b})" for n, (a, b) in caught.items()}
        lines.append(
            f"| {condition} | {len(pairs)} | {failing} of {len(pairs)} | {regressed} of {cells} | "
            f"{share['slow-x1.10']} | {share['slow-x1.25']} | {improved} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "compare-quality")
    parser.add_argument("--evaluate-only", action="store_true")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KNOB=VALUE",
        help="evaluate with a Thresholds knob changed (e.g. noise_power=1.0)",
    )  # fmt: skip
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.evaluate_only:
        measure(args.out, args.runs)
    knobs = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    lines = evaluate(args.out, Thresholds(**knobs))
    text = "# compare quality: every pair of single runs of configs/ci.yaml\n\n" + "\n".join(lines)
    if not knobs:
        (args.out / "summary.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

"""Does a cell's time depend on what ran before it? A cell alone against the same cell in a sweep.

Re-measures ``--cells`` random ``ok`` cells of a results CSV, each in a run of its own (the sweep
restricted to that one cell: nothing else runs before it), and compares each with its row from
the full sweep, where every other cell of the config ran before it in the same ``convbench run``.

    python benchmarks/isolation.py configs/quick.yaml results/quick.csv --cells 12

Prints the ratio alone / in the sweep per cell (CPU medians), the verdicts ``convbench compare``
gives, and the median ratio. Cost: one short run per cell.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from convbench.compare import compare_frames
from convbench.config import load_sweep
from convbench.results import read_rows, row_key
from convbench.runner import run_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("csv", type=Path)
    parser.add_argument("--cells", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sweep, full = load_sweep(args.config), read_rows(args.csv)
    ok = full[(full["status"] == "ok") & (full["time_median_s"] < 0.05)]
    picked = ok.sample(n=min(args.cells, len(ok)), random_state=args.seed)
    keys = [row_key(r) for r in picked.to_dict("records")]
    with tempfile.TemporaryDirectory() as tmp:
        alone = []
        for i, key in enumerate(keys):
            out = Path(tmp) / f"alone-{i}.csv"
            run_sweep(sweep, out, only={key}, progress=False)
            alone.append(read_rows(out))
    ratios = []
    for key, rows in zip(keys, alone, strict=True):
        base = full[[row_key(r) == key for r in full.to_dict("records")]]
        verdict = compare_frames(base, rows).cells.iloc[0]
        ratio = rows["cpu_median_s"].iloc[0] / base["cpu_median_s"].iloc[0]
        ratios.append(ratio)
        print(f"{key[0]:>20} {key[1]}x{key[2]} f{key[3]} d{key[5]}: x{ratio:.3f} {verdict.verdict}")
    r = np.array(ratios)
    print(
        f"median ratio alone / in the sweep x{np.median(r):.3f}, "
        f"{np.mean(np.abs(np.log(r)) <= np.log(1.1)):.0%} within x1.10"
    )


if __name__ == "__main__":
    main()

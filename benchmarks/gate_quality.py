"""How often does the gate cry wolf, and how often does it catch a slowdown? (make gate-quality)

    python benchmarks/gate_quality.py [--runs 20] [--out results/gate-quality]

1. Runs a reduced copy of ``configs/ci.yaml`` (same cells and methods, fewer and shorter samples,
   no memory pass) ``--runs`` times, each in its own process (``run00.csv``...; existing runs are
   reused, so an interrupted script resumes). Every run also measures two plugins from
   ``benchmarks/slow_plugin.py``: ``shift-add`` doing 1.25x and 1.5x its work.
2. Per cell, first pass only: every pair of runs (i < j) compared with each statistic
   (min-median, median, mannwhitney) -> false-alarm rate on same-code pairs (A/A), and detection
   rate of the slowed plugins (baseline: run i's real ``shift-add``; current: run j's plugin).
3. Whole gate, with confirmation: ``convbench.gate.run_gate`` replayed on the pool of runs
   (baseline runs i..i+B-1 (``--baseline-runs`` B, as ``make gate-baseline`` makes them; B = 1
   is a one-process baseline), first pass run i+B, confirmations runs i+B+g and i+B+2g, all
   separate processes, indices modulo the pool) -> per-gate false-alarm rate and per-cell
   detection rate. g = 1 replays readings taken back to back; the gate's pause before each
   re-measurement (``--confirm-wait``) is replayed with the smallest g whose runs finished that
   long apart. Shown for B = 1, and for B with the noise rule (``--noise-power``: a cell whose
   baseline runs disagree needs a larger change) and the pause off and on.

The reduced timing (fewer samples) makes each verdict noisier than the real gate's, so the
false-alarm figures are, if anything, pessimistic. Results: ``<out>/summary.md`` (printed too).
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from convbench.cases import CASE_KEYS
from convbench.compare import (
    NOISE_POWER,
    Stat,
    Thresholds,
    Verdict,
    judge_times,
    usual_wall_cpu,
)
from convbench.gate import CONFIRM_WAIT_S, measure_pass, run_gate
from convbench.results import ROW_KEY, RowWriter, format_samples, read_meta, read_rows, write_meta

REAL = "shift-add"
SLOW = {"x1.25": "slow-x1.25", "x1.5": "slow-x1.5"}
PLUGINS = [
    {SLOW["x1.25"]: "benchmarks.slow_plugin:shift_add_x125"},
    {SLOW["x1.5"]: "benchmarks.slow_plugin:shift_add_x150"},
]


def quality_sweep(ci_config: Path, out: Path, repeats: int, min_sample_s: float) -> Path:
    """The ci sweep with the slow plugins added and cheaper timing, written to ``out``."""
    config = yaml.safe_load(ci_config.read_text())
    config["methods"] = [*config["methods"], *PLUGINS]
    config["memory_pass"] = False
    config["timing"] = {"warmup": 1, "min_sample_s": min_sample_s, "repeats": repeats,
                        "min_repeats": min(5, repeats)}  # fmt: skip
    config["description"] = f"gate quality: {ci_config} with slowed shift-add plugins"
    path = out / "quality.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def make_runs(sweep: Path, out: Path, runs: int) -> list[Path]:
    paths = [out / f"run{i:02d}.csv" for i in range(runs)]
    for i, path in enumerate(paths):
        if path.exists() and read_meta(path).get("finished_at"):
            continue
        path.unlink(missing_ok=True)
        t0 = time.perf_counter()
        measure_pass(sweep, path, None)
        print(f"run {i + 1}/{runs}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return paths


def work_factor(tables: list[pd.DataFrame], slow: str) -> tuple[float, float, float]:
    """Per cell, the median over runs of plugin / shift-add CPU time; (median, lowest, highest)
    over the cells."""
    ratios = []
    for t in tables:
        ok = t[t["status"] == "ok"].set_index(list(CASE_KEYS))
        ratios.append(
            ok[ok["method"] == slow]["cpu_median_s"] / ok[ok["method"] == REAL]["cpu_median_s"]
        )
    per_cell = pd.concat(ratios, axis=1).median(axis=1)
    return float(per_cell.median()), float(per_cell.min()), float(per_cell.max())


def real_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[~df["method"].isin(SLOW.values())]


def slowed_as_real(df: pd.DataFrame, slow_name: str) -> pd.DataFrame:
    """The plugin's rows, renamed to the real method so that they match its baseline rows."""
    rows = df[df["method"] == slow_name].copy()
    rows["method"] = REAL
    return rows


def only_real_method(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["method"] == REAL]


# --------------------------------------------------------------------------- per cell, first pass


def cell_samples(df: pd.DataFrame, usual: float) -> dict[tuple, tuple[list[float], float]]:
    """Per cell: CPU samples and wall/CPU relative to the run's usual level (as compare does)."""
    ok = df[df["status"] == "ok"]
    return {
        tuple(r[k] for k in ROW_KEY): (r["cpu_samples_s"], float(r["wall_cpu_ratio"]) / usual)
        for r in ok.to_dict("records")
    }


def per_cell_rate(pairs, rule: Thresholds, want: str) -> tuple[int, int]:
    """(cells whose verdict is ``want``, cells compared) over (baseline, current) table pairs."""
    hits = total = 0
    for base, current, usual_b, usual_c in pairs:
        b, c = cell_samples(base, usual_b), cell_samples(current, usual_c)
        for key in b.keys() & c.keys():
            j = judge_times(b[key][0], c[key][0], rule, base_wall_cpu=b[key][1],
                            current_wall_cpu=c[key][1])  # fmt: skip
            hits += j.verdict.value == want
            total += 1
    return hits, total


# --------------------------------------------------------------------------- whole gate, replayed


def write_table(df: pd.DataFrame, path: Path, meta: dict) -> Path:
    with RowWriter(path, overwrite=True) as writer:  # replay scratch, rewritten every round
        for row in df.to_dict("records"):
            for column in ("samples_s", "cpu_samples_s"):
                row[column] = format_samples(row[column])
            writer.write({k: ("" if _is_nan(v) else v) for k, v in row.items()})
    write_meta(path, meta)
    return path


def _is_nan(v: object) -> bool:
    return isinstance(v, float) and np.isnan(v)


@dataclass(frozen=True)
class GateSetup:
    """One way of running the gate, replayed over the pool."""

    rule: Thresholds
    baseline_runs: int = 1
    readings: int = 3
    gap: int = 1  # pool runs between two readings of a cell (models --confirm-wait)
    wait_s: float = 0.0

    def title(self) -> str:
        b = self.baseline_runs
        noise = ""
        if b > 1:
            noise = f", noise power {self.rule.noise_power:g}" if self.rule.noise_power else ""
            noise = noise or ", noise rule off"
        wait = (
            f"readings {self.gap} runs apart (--confirm-wait {self.wait_s:g} s)"
            if self.wait_s
            else "readings from consecutive runs (no wait)"
        )
        return (
            f"min-median, factor {self.rule.factor}, baseline of {b} run{'s' if b > 1 else ''}"
            f"{noise}, {self.readings} regressed readings to confirm, {wait}"
        )


def replay_gate(
    sweep: Path,
    tables: list[pd.DataFrame],
    metas: list[dict],
    i: int,
    base_of: Callable[[pd.DataFrame], pd.DataFrame],
    current_of: Callable[[pd.DataFrame], pd.DataFrame],
    work: Path,
    setup: GateSetup,
):
    """``run_gate`` with baseline runs i..i+B-1, first pass run i+B, confirmations i+B+g and
    i+B+2g (g = ``setup.gap``, indices modulo the pool)."""
    n, b = len(tables), setup.baseline_runs
    base = [
        write_table(base_of(tables[(i + k) % n]), work / f"base{k}.csv", metas[(i + k) % n])
        for k in range(b)
    ]
    passes = iter(i + b + setup.gap * r for r in range(3))

    def measure(_sweep: Path, output: Path, only: set | None) -> None:
        k = next(passes) % n
        df = current_of(tables[k])
        if only is not None:
            df = df[[tuple(r[c] for c in ROW_KEY) in only for r in df.to_dict("records")]]
        write_table(df, output, metas[k])

    return run_gate(
        sweep,
        base,
        work / "current.csv",
        setup.rule,
        readings=setup.readings,
        measure=measure,
        sleep=lambda _s: None,  # the wait is modelled by taking readings from later runs
    )


def whole_gate_lines(
    sweep: Path,
    tables: list[pd.DataFrame],
    metas: list[dict],
    work: Path,
    setup: GateSetup,
) -> list[str]:
    """The whole gate replayed once per run of the pool: A/A false alarms and detection."""
    lines = ["", f"### Whole gate ({setup.title()})", ""]
    n = len(tables)
    gates = [
        replay_gate(sweep, tables, metas, i, real_rows, real_rows, work, setup) for i in range(n)
    ]
    failed = sum(g.failed for g in gates)
    first_failed = sum(g.first.failed for g in gates)
    flagged = sum(len(g.first.flagged_keys()) for g in gates)
    cleared = sum(len(g.cleared) for g in gates)
    lines.append(
        f"- A/A: **{failed}/{len(gates)} gates failed** ({first_failed} would have failed "
        f"on the first pass alone; {flagged} cells flagged, {cleared} cleared by re-measuring)."
    )
    for label, slow in SLOW.items():
        gates = [
            replay_gate(
                sweep,
                tables,
                metas,
                i,
                only_real_method,
                lambda t, s=slow: slowed_as_real(t, s),
                work,
                setup,
            )
            for i in range(n)
        ]
        cells = sum(len(g.final.cells) for g in gates)
        caught = sum(len(g.confirmed) for g in gates)
        lines.append(
            f"- {label} slower shift-add: **{caught}/{cells} cells caught** "
            f"({caught / max(cells, 1):.1%}); {sum(g.failed for g in gates)}/{len(gates)} "
            "gates failed."
        )
    return lines


def run_spacing_s(metas: list[dict]) -> float:
    """Median seconds between the ends of consecutive runs of the pool."""
    ends = [datetime.fromisoformat(m["finished_at"]).timestamp() for m in metas]
    gaps = np.diff(ends)
    return float(np.median(gaps)) if gaps.size else math.inf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/ci.yaml"))
    parser.add_argument("--out", type=Path, default=Path("results/gate-quality"))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--min-sample-s", type=float, default=0.01)
    parser.add_argument("--factor", type=float, default=1.10, help="the gate's --factor")
    parser.add_argument(
        "--baseline-runs", type=int, default=5, help="processes in the gate's baseline"
    )
    parser.add_argument(
        "--readings", type=int, default=3, help="consecutive regressed readings to confirm"
    )
    parser.add_argument(
        "--noise-power", type=float, default=NOISE_POWER, help="the gate's --noise-power"
    )
    parser.add_argument(
        "--confirm-wait", type=float, default=CONFIRM_WAIT_S, help="the gate's --confirm-wait"
    )
    args = parser.parse_args(argv)
    if args.runs < args.baseline_runs + 3:
        parser.error(
            "--runs must be >= --baseline-runs + 3 (baseline, first pass, 2 confirmations)"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    sweep = quality_sweep(args.config, args.out, args.repeats, args.min_sample_s)
    t0 = time.perf_counter()
    paths = make_runs(sweep, args.out, args.runs)
    tables = [read_rows(p) for p in paths]
    metas = [read_meta(p) for p in paths]
    lines = [
        "## Gate quality",
        "",
        f"`python benchmarks/gate_quality.py --runs {args.runs}` on "
        f"{metas[0].get('cpu_model', '?')}"
        f" ({metas[0].get('cores', '?')} cores): {args.config} with {args.repeats} samples of "
        f">= {args.min_sample_s * 1000:.0f} ms, each run a separate process.",
        "",
    ]
    lines.append(
        "Work actually added by the plugins (CPU-time ratio to shift-add in the same process, "
        "median over runs; lowest and highest cell): "
        + ", ".join(
            "{}: x{:.2f} (x{:.2f} to x{:.2f})".format(label, *work_factor(tables, slow))
            for label, slow in SLOW.items()
        )
        + "."
    )
    lines += ["", "### Per cell, first pass only (every pair of runs)", ""]
    lines += [
        "| statistic | factor | A/A false alarms | caught x1.25 | caught x1.5 |",
        "|---|---|---|---|---|",
    ]
    pairs = list(itertools.combinations(range(len(tables)), 2))
    usual = [max(usual_wall_cpu(real_rows(t)), 1.0) for t in tables]
    aa = [(real_rows(tables[i]), real_rows(tables[j]), usual[i], usual[j]) for i, j in pairs]
    slow_pairs = {
        label: [
            (only_real_method(tables[i]), slowed_as_real(tables[j], slow), usual[i], usual[j])
            for i, j in pairs
        ]
        for label, slow in SLOW.items()
    }
    rules = [Thresholds(stat=stat, factor=args.factor) for stat in Stat]
    rules += [Thresholds(factor=f) for f in (1.15, 1.2, 1.3) if f != args.factor]
    for rule in rules:
        fa, n_fa = per_cell_rate(aa, rule, Verdict.regressed.value)
        cells = [f"{fa}/{n_fa} ({fa / max(n_fa, 1):.2%})"]
        for label in SLOW:
            hit, n_hit = per_cell_rate(slow_pairs[label], rule, Verdict.regressed.value)
            cells.append(f"{hit}/{n_hit} ({hit / max(n_hit, 1):.1%})")
        lines.append(f"| {rule.stat.value} | {rule.factor} | " + " | ".join(cells) + " |")

    # The gate pauses --confirm-wait before each re-measurement: replayed by taking the
    # confirmation readings from runs that finished at least that long after the previous one.
    gap = max(1, math.ceil(args.confirm_wait / run_spacing_s(metas)))
    if args.runs < args.baseline_runs + 1 + 2 * gap:
        parser.error(f"--runs too small for readings {gap} runs apart")
    rule = Thresholds(factor=args.factor, noise_power=args.noise_power)
    no_noise = Thresholds(factor=args.factor, noise_power=0)
    b, r = args.baseline_runs, args.readings
    variants = [
        GateSetup(no_noise, 1, r),  # the simplest gate: one baseline process, back to back
        GateSetup(no_noise, b, r),
        GateSetup(rule, b, r),
        GateSetup(no_noise, b, r, gap, args.confirm_wait),
        GateSetup(rule, b, r, gap, args.confirm_wait),  # the default gate
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for setup in dict.fromkeys(variants):
            lines += whole_gate_lines(sweep, tables, metas, Path(tmp), setup)
    lines += ["", f"Analysis + runs: {time.perf_counter() - t0:.0f} s."]
    text = "\n".join(lines) + "\n"
    (args.out / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

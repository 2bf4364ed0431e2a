"""How often does ``gate --base`` cry wolf, and how often does it catch a slowdown?

    python benchmarks/gate_quality.py [--config configs/ci.yaml] [--aa 40] [--slowed 10]
        [--conditions quiet,neighbour] [--rounds N] [--out results/gate-quality]

1. Builds a scratch git repository (in a temporary directory) holding a user package with two
   methods, ``slow-x1.10`` and ``slow-x1.25``, and the config: ``--config``'s cells and methods
   plus those two. Commit ``base``: they call ``shift-add`` 10 times (``slow-x1.10``) and 4
   times (``slow-x1.25``) in a row. Commit ``slowed``: 11 and 5 times, exactly 10 % / 25 % more
   of the same work whatever the host does to one call (``benchmarks/slow_plugin.py``).
2. Runs real gates there, each its own ``python -m convbench gate gate.yaml --base base``
   process, with this checkout's convbench:
   * **A/A** (``--aa`` per condition): the working tree at ``base``: base and head are the same
     code, so every failing gate and every regressed cell is a false alarm;
   * **slowed** (``--slowed`` per condition): the working tree at ``slowed``: the plugins'
     cells must read ``regressed``, never ``improved``, the built-in methods' cells must not
     move.
   Conditions: ``quiet`` (the machine as it is) and ``neighbour``: a process that copies a
   256 MiB array over and over (CPU and memory bandwidth hungry, like another job on a shared
   runner) runs during each gate; the script starts it before the gate and kills it after
   (it also stops by itself after ``--neighbour-max-s``, or when the script is gone).
3. Gates of both kinds and conditions alternate, so that a slow period of the host hits all of
   them. Each gate's result is kept in ``<out>/records/*.json`` (committed: an interrupted
   script, or a later session, resumes where it stopped; each record names the commit it
   measured), its CSVs and report in ``<out>/gates/`` (not committed); ``<out>/summary.md``
   has the table (printed too).

Cost: one gate per line above, each like ``make gate`` with two more methods, whose cells cost
4-11 shift-add calls each and, when they moved, 32 more rounds: ~3 min (A/A) to ~6 min
(slowed, neighbour) per gate on 2 CPUs, so ``--aa 40 --slowed 10`` over both conditions (100
gates) takes ~6 h. Only ``--rounds``, ``--no-duet`` and ``--config`` change what is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's convbench, also for the gates it starts

from convbench.comparison import compare_files  # noqa: E402
from convbench.measure.environment import cpu_details  # noqa: E402
from convbench.rules import ROUNDS  # noqa: E402

#: Each test method: (its function at commit ``base``, at commit ``slowed``): shift-add called
#: 10 (4) times, then 11 (5) times: exactly x1.10 (x1.25) of the same work in any condition.
PLUGINS = {
    "slow-x1.10": ("shift_add_x10", "shift_add_x11"),
    "slow-x1.25": ("shift_add_x4", "shift_add_x5"),
}
PACKAGE = "gqpkg"
#: Stops by itself after argv[1] seconds, or as soon as the script that started it is gone (a
#: killed script cannot run its clean-up; a neighbour left behind once slowed a later sweep x1.4).
NEIGHBOUR = """
import os, sys, time
import numpy as np
a = np.ones(1 << 25)  # 256 MiB of float64
b = np.empty_like(a)
parent = int(sys.argv[2])
deadline = time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline and os.getppid() == parent:
    np.copyto(b, a)
"""


def conv_module(slowed: bool) -> str:
    """The user package's methods: the base's repeat counts, or the slowed ones."""
    lines = ["from . import slow", ""]
    for name, funcs in PLUGINS.items():
        ident = name.replace("-", "_").replace(".", "")
        lines.append(f"{ident} = slow.{funcs[slowed]}")
    return "\n".join(lines) + "\n"


def git(repo: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.email=gate-quality@convbench", "-c", "user.name=gate-quality"]
    done = subprocess.run([*cmd, *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_repo(where: Path, config: Path) -> Path:
    """The scratch repository: tags ``base`` (plain methods) and ``slowed``."""
    repo = where / "repo"
    (repo / PACKAGE).mkdir(parents=True)
    (repo / PACKAGE / "__init__.py").write_text("")
    shutil.copy(ROOT / "benchmarks" / "slow_plugin.py", repo / PACKAGE / "slow.py")
    sweep = yaml.safe_load(config.read_text())
    plugins = [
        {name: f"{PACKAGE}.conv:{name.replace('-', '_').replace('.', '')}"} for name in PLUGINS
    ]
    sweep["methods"] = [*sweep["methods"], *plugins]
    sweep["description"] = f"gate quality: {config.name} plus shift-add slowed x1.10 and x1.25"
    (repo / "gate.yaml").write_text(yaml.safe_dump(sweep, sort_keys=False))
    git(repo, "init", "-q")
    for tag, slowed in (("base", False), ("slowed", True)):
        (repo / PACKAGE / "conv.py").write_text(conv_module(slowed))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", tag)
        git(repo, "tag", tag)
    return repo


@contextmanager
def neighbour(on: bool, max_s: float) -> Iterator[None]:
    """A CPU- and memory-bandwidth-hungry process for the duration of the block (if ``on``)."""
    if not on:
        yield
        return
    args = [sys.executable, "-c", NEIGHBOUR, str(max_s), str(os.getpid())]
    proc = subprocess.Popen(args, start_new_session=True)
    try:
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_gate(
    repo: Path,
    kind: str,
    out: Path,
    rounds: int | None,
    noisy: bool,
    max_s: float,
    no_duet: bool = False,
) -> dict:
    """One gate in its own process; its exit code, cells and wall time."""
    git(repo, "checkout", "-q", "base" if kind == "aa" else "slowed")
    head = out.with_suffix(".csv")
    cmd = [
        sys.executable,
        "-m",
        "convbench",
        "gate",
        "gate.yaml",
        "--base",
        "base",
        "-o",
        str(head),
    ]
    cmd += ["--markdown", str(out.with_suffix(".md"))]
    if rounds:
        cmd += ["--rounds", str(rounds)]
    if no_duet:
        cmd += ["--no-duet"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    t0 = time.perf_counter()
    with neighbour(noisy, max_s):
        done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    wall_s = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise SystemExit(f"gate failed to run (exit {done.returncode}): {done.stderr.strip()}")
    comparison = compare_files(head.with_name(f"{head.stem}.base.csv"), head)
    cells = [
        {k: c[k] for k in ("method", "input_h", "kernel_h", "depth", "verdict", "ratio", "memory")}
        for c in comparison.cells.to_dict("records")
    ]
    return {
        "kind": kind,
        "exit": done.returncode,
        "wall_s": wall_s,
        "convbench": measured_commit(),
        # Sessions of this project have run on different CPUs of one model name.
        "machine": cpu_details(),
        "finished_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "cells": cells,
    }


def measured_commit() -> str:
    """The commit of the convbench that ran the gates (``+changes`` for a dirty tree)."""
    sha = git(ROOT, "rev-parse", "--short=12", "HEAD")
    dirty = git(ROOT, "status", "--porcelain", "--untracked-files=no", "--", "convbench")
    return sha + ("+changes" if dirty else "")


def _caught(cells: list[dict]) -> str:
    hit = sum(c["verdict"] == "regressed" for c in cells)
    return f"{hit}/{len(cells)} ({100 * hit / len(cells):.0f} %)" if cells else "-"


def _median(values: list[float]) -> str:
    values = sorted(v for v in values if v == v)  # nan != nan
    return f"x{values[len(values) // 2]:.3f}" if values else "-"


def condition_row(condition: str, gates: list[dict]) -> str:
    """One line of the summary table."""
    aa = [g for g in gates if g["kind"] == "aa"]
    slowed = [g for g in gates if g["kind"] == "slowed"]
    aa_cells = [c for g in aa for c in g["cells"]]
    plugin = {
        name: [c for g in slowed for c in g["cells"] if c["method"] == name] for name in PLUGINS
    }
    others = [c for g in slowed for c in g["cells"] if c["method"] not in PLUGINS]
    slow_cells = [c for cells in plugin.values() for c in cells]
    failing_125 = sum(
        any(c["method"] == "slow-x1.25" and c["verdict"] == "regressed" for c in g["cells"])
        for g in slowed
    )
    walls = sorted(g["wall_s"] for g in gates)
    return " | ".join(
        [
            f"| {condition}",
            f"{sum(g['exit'] == 1 for g in aa)}/{len(aa)}",
            f"{sum(c['verdict'] == 'regressed' for c in aa_cells)}/{len(aa_cells)}",
            _caught(plugin["slow-x1.10"]),
            _caught(plugin["slow-x1.25"]),
            f"{failing_125}/{len(slowed)}",
            str(sum(c["verdict"] == "improved" for c in slow_cells)),
            f"{sum(c['verdict'] == 'regressed' for c in others)}/{len(others)}",
            f"{_median([c['ratio'] for c in plugin['slow-x1.10']])}, "
            f"{_median([c['ratio'] for c in plugin['slow-x1.25']])}",
            f"{walls[len(walls) // 2]:.0f} |" if walls else "- |",
        ]
    )


def summarize(results: dict[str, list[dict]]) -> str:
    """The markdown summary: one line per condition."""
    lines = [
        f"# gate --base quality ({datetime.now().isoformat(timespec='minutes')})",
        "",
        "| condition | A/A gates failing | A/A cells regressed | x1.10 cells caught | "
        "x1.25 cells caught | x1.25 gates failing | slowed cells improved | other cells "
        "regressed (slowed gates) | median ratio read (x1.10, x1.25) | s per gate |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [condition_row(condition, gates) for condition, gates in results.items()]
    commits: dict[str, int] = {}
    for gate in (g for gates in results.values() for g in gates):
        sha = gate.get("convbench", "unrecorded")
        commits[sha] = commits.get(sha, 0) + 1
    lines += ["", "Gates per convbench commit measured: "]
    lines[-1] += ", ".join(f"{sha} ({n})" for sha, n in commits.items())
    return "\n".join(lines) + "\n"


def schedule(aa: int, slowed: int) -> list[tuple[str, int]]:
    """Both kinds of gate spread evenly over the run, so that a slow period hits both."""
    keyed = [((i + 0.5) / aa, "aa", i) for i in range(aa)]
    keyed += [((i + 0.5) / slowed, "slowed", i) for i in range(slowed)]
    return [(kind, i) for _, kind, i in sorted(keyed)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "ci.yaml")
    parser.add_argument("--aa", type=int, default=40, help="A/A gates per condition")
    parser.add_argument("--slowed", type=int, default=10, help="slowed gates per condition")
    parser.add_argument("--conditions", default="quiet,neighbour")
    parser.add_argument("--rounds", type=int, default=None, help=f"gate --rounds [{ROUNDS}]")
    parser.add_argument("--no-duet", action="store_true", help="gate --no-duet")
    parser.add_argument("--neighbour-max-s", type=float, default=1800.0)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "gate-quality")
    args = parser.parse_args()
    # `kill` (SIGTERM) ends the script through its clean-up: the neighbour and scratch go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.out = args.out.resolve()  # each gate runs in the scratch repository, not here
    conditions = [c for c in args.conditions.split(",") if c]
    unknown = set(conditions) - {"quiet", "neighbour"}
    if unknown:
        parser.error(f"unknown condition(s): {', '.join(sorted(unknown))}")
    (args.out / "gates").mkdir(parents=True, exist_ok=True)
    (args.out / "records").mkdir(parents=True, exist_ok=True)
    setup = {"config": str(args.config.resolve()), "rounds": args.rounds, "no_duet": args.no_duet}
    setup_file = args.out / "records" / "setup.json"
    if setup_file.exists() and json.loads(setup_file.read_text()) != setup:
        parser.error(f"{setup_file.parent} holds gates of another --config/--rounds: remove it")
    setup_file.write_text(json.dumps(setup))
    results: dict[str, list[dict]] = {c: [] for c in conditions}
    with tempfile.TemporaryDirectory(prefix="gate-quality-") as scratch:
        repo = make_repo(Path(scratch), args.config.resolve())
        plan = [(c, kind, i) for kind, i in schedule(args.aa, args.slowed) for c in conditions]
        for n, (condition, kind, i) in enumerate(plan, 1):
            name = f"{condition}-{kind}-{i:02d}"
            record = args.out / "records" / f"{name}.json"
            if record.exists():
                results[condition].append(json.loads(record.read_text()))
                continue
            result = run_gate(repo, kind, args.out / "gates" / name, args.rounds,
                              condition == "neighbour", args.neighbour_max_s,
                              args.no_duet)  # fmt: skip
            record.write_text(json.dumps(result, indent=1))
            results[condition].append(result)
            print(f"{n}/{len(plan)} {name}: exit {result['exit']}, {result['wall_s']:.0f} s",
                  file=sys.stderr)  # fmt: skip
    text = summarize(results)
    (args.out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

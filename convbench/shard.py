"""Split a sweep's work into N shards of similar predicted cost, one per scheduler task.

A shard is a fixed subset of :func:`convbench.runner.work_items`, kept in that order, so N
independent ``convbench run --shard K/N`` processes (a CI matrix, a Slurm job array) together
measure every (case, method) cell exactly once and never time two cells at once on one machine.

The partition is longest-processing-time-first greedy on predicted seconds per cell: cells in
decreasing cost go to the currently lightest shard; equal costs and equal loads are broken by
item order and shard number, so every task computes the same partition from the same config.
Predicted cost comes from :func:`predict_cell_s` (a rough model) or from a previous results CSV
(:func:`costs_from_results`), which is far better for a sweep that has been run before.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .cases import Case
from .errors import ConfigError

if TYPE_CHECKING:  # the runner imports numpy and the methods; plan only needs their types
    from .config import Sweep
    from .methods.registry import Method
    from .work import WorkItem

#: Rough single-core throughput of a vectorised method, in useful flop/s.
FLOP_RATE = 2e9
#: Rough rate at which a method fills its temporary buffers, in bytes/s.
BYTE_RATE = 2e9
#: Fixed cost of any cell: inputs, bookkeeping, writing and flushing the row.
CELL_OVERHEAD_S = 0.05
#: Round trip to the memory worker (it builds the inputs again) on top of its one call.
MEMORY_PASS_OVERHEAD_S = 0.05
#: Starting one worker process (a fork of the preloaded server) and building its inputs.
WORKER_OVERHEAD_S = 0.02
#: Slower-than-vectorised families (Python-level loops over the kernel or the output).
FAMILY_SLOWDOWN = {"direct": 4.0, "user": 2.0}

_SHARD_TEXT = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``1 <= K <= N`` (1-based like Slurm array task ids).

    Raises
    ------
    ConfigError
        When ``text`` is not of that form.
    """
    m = _SHARD_TEXT.fullmatch(text)
    if m:
        index, count = int(m.group(1)), int(m.group(2))
        if 1 <= index <= count:
            return index, count
    raise ConfigError(f"--shard: expected K/N with 1 <= K <= N (e.g. 2/4), got {text!r}")


# --------------------------------------------------------------------------- cost model


def predicted_call_s(case: Case, method: Method) -> float:
    """Predicted seconds of one call of ``method`` on ``case``.

    FFT methods cost about ``5 P log2 P`` flop per transform of the padded input (P = its area),
    three transforms per channel; the others ``Case.flops``, slowed down for loop-based families.
    The method's own ``estimate_bytes`` adds the time to fill its buffers. Cost: O(1).
    """
    if method.family == "fft":
        area = max(case.padded_size[0] * case.padded_size[1], 2)
        work = 3 * 5 * area * math.log2(area) * case.channels
        work *= max(case.batch, 1) * max(case.filters, 1)
    else:
        work = case.flops * FAMILY_SLOWDOWN.get(method.family, 1.0)
    try:
        buffer_bytes = max(int(method.estimate_bytes(case)), 0)
    except Exception:  # a broken estimate must not stop the plan; the flops still count
        buffer_bytes = 0
    return 20e-6 + work / FLOP_RATE + buffer_bytes / BYTE_RATE


def predict_cell_s(item: WorkItem, sweep: Sweep) -> float:
    """Predicted wall seconds the runner spends on one cell (see :mod:`convbench.runner`).

    A cell that is skipped or unsupported costs :data:`CELL_OVERHEAD_S`. A measured one costs one
    verified call plus the reference, calibration and ``warmup + repeats`` samples of at least
    ``min_sample_s`` (sampling stops after ``min_repeats`` once ``time_budget_s`` is spent), plus
    the memory pass when it is on.
    """
    case, method = item.case, item.entry.method
    if sweep.skip_reason(case, item.entry.name) or method.supports(case):
        return CELL_OVERHEAD_S
    try:
        too_big = int(method.estimate_bytes(case)) > sweep.memory_limit
    except Exception:
        too_big = False
    if too_big:
        return CELL_OVERHEAD_S
    call_s = predicted_call_s(case, method)
    t, procs = sweep.timing, sweep.processes
    sample_s = max(t.min_sample_s, call_s)
    # Each worker process calibrates and warms up again; the samples are shared among them.
    setup_s = procs * ((t.warmup + 1) * sample_s + WORKER_OVERHEAD_S)
    timing_s = t.repeats * sample_s
    floor_s = procs * math.ceil(t.min_repeats / procs) * sample_s
    timing_s = setup_s + min(timing_s, max(sweep.time_budget_s, floor_s))
    reference_s = case.flops / FLOP_RATE
    memory_s = MEMORY_PASS_OVERHEAD_S + call_s if sweep.memory_pass else 0.0
    return CELL_OVERHEAD_S + reference_s + call_s + timing_s + memory_s


def costs_from_results(path: str | Path) -> dict[tuple, float]:
    """Measured seconds per cell of a previous results CSV, by row key.

    An ``ok`` row cost about ``time_median_s * loops * (repeats + 2 * processes)`` (its samples,
    and one warm-up and one calibration per worker process) plus the fixed overheads; other rows
    cost :data:`CELL_OVERHEAD_S`. Cells of another config simply do not match.
    """
    from .results import read_rows, row_key

    costs: dict[tuple, float] = {}
    for r in read_rows(path).to_dict("records"):
        cost = CELL_OVERHEAD_S
        if r["status"] == "ok":
            procs = float(r["processes"]) if r["processes"] == r["processes"] else 1.0
            calls = float(r["repeats"]) + 2 * procs
            timed = float(r["time_median_s"]) * float(r["loops"]) * calls
            if math.isfinite(timed):
                cost += timed + procs * WORKER_OVERHEAD_S + MEMORY_PASS_OVERHEAD_S
        costs[row_key(r)] = cost
    return costs


# --------------------------------------------------------------------------- partition


def partition(costs: Sequence[float], count: int) -> list[int]:
    """Shard number (1..count) of each item, longest-processing-time-first greedy.

    Deterministic: items are taken by decreasing cost, then by position; each goes to the shard
    with the smallest load so far, then the smallest number. Cost: O(n log n).
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    order = sorted(range(len(costs)), key=lambda i: (-costs[i], i))
    loads = [(0.0, shard) for shard in range(1, count + 1)]  # already a heap
    shard_of = [0] * len(costs)
    for i in order:
        load, shard = heapq.heappop(loads)
        shard_of[i] = shard
        heapq.heappush(loads, (load + costs[i], shard))
    return shard_of


@dataclass(frozen=True)
class Plan:
    """A partition of a sweep's work items into ``count`` shards.

    ``keys``, ``labels``, ``costs_s`` and ``shard_of`` are parallel, in work-item order;
    ``cost_source`` says where the predicted costs came from.
    """

    count: int
    keys: tuple[tuple, ...]
    labels: tuple[str, ...]
    costs_s: tuple[float, ...]
    shard_of: tuple[int, ...]
    cost_source: str = "model"

    def keys_of(self, shard: int) -> set[tuple]:
        """Row keys of the cells of ``shard`` (1-based)."""
        return {k for k, s in zip(self.keys, self.shard_of, strict=True) if s == shard}

    def predicted_s(self) -> list[float]:
        """Predicted seconds of each shard, shard 1 first."""
        totals = [0.0] * self.count
        for cost, s in zip(self.costs_s, self.shard_of, strict=True):
            totals[s - 1] += cost
        return totals

    def fingerprint(self) -> str:
        """Short hash of the partition: shards of one plan share it, merge checks it."""
        text = json.dumps([self.count, self.keys, self.shard_of], default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def sidecar(self, shard: int) -> dict[str, object]:
        """What the sidecar of shard ``shard`` records about its place in the plan."""
        return {
            "index": shard,
            "count": self.count,
            "plan": self.fingerprint(),
            "cells": len(self.keys_of(shard)),
            "predicted_s": round(self.predicted_s()[shard - 1], 3),
            "costs_from": self.cost_source,
        }

    def lines(self, items: bool = True) -> list[str]:
        """``convbench plan``'s table: cells and predicted time per shard, then their cells."""
        totals = self.predicted_s()
        cells = [self.shard_of.count(s) for s in range(1, self.count + 1)]
        out = [
            f"{len(self.keys)} cells in {self.count} shards, costs from {self.cost_source}",
            f"{'shard':>7} {'cells':>6} {'predicted':>10}",
        ]
        for s in range(1, self.count + 1):
            out.append(f"{s:>3}/{self.count:<3} {cells[s - 1]:>6} {_duration(totals[s - 1]):>10}")
        total = sum(totals)
        longest = max(totals, default=0.0)
        out.append(
            f"total {_duration(total)}; wall time with {self.count} machines ~{_duration(longest)}"
            f" (imbalance {longest / (total / self.count) if total else 1.0:.2f}x)"
        )
        if items:
            for s in range(1, self.count + 1):
                out.append(f"shard {s}/{self.count}:")
                for label, cost, k in zip(self.labels, self.costs_s, self.shard_of, strict=True):
                    if k == s:
                        out.append(f"  {_duration(cost):>8}  {label}")
        return out


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def plan_sweep(
    sweep: Sweep, count: int, costs: Mapping[tuple, float] | None = None, cost_source: str = ""
) -> Plan:
    """Partition ``sweep``'s work items into ``count`` shards.

    ``costs`` (e.g. from :func:`costs_from_results`) overrides the model for the cells it has.
    Raises :class:`ConfigError` when ``count`` is below 1.
    """
    from .work import work_items

    if count < 1:
        raise ConfigError(f"--shards: must be >= 1, got {count}")
    items = work_items(sweep)
    known = costs or {}
    predicted = [
        known[it.key()] if it.key() in known else predict_cell_s(it, sweep) for it in items
    ]
    return Plan(
        count=count,
        keys=tuple(it.key() for it in items),
        labels=tuple(f"{it.entry.name} on {it.case.label()}" for it in items),
        costs_s=tuple(predicted),
        shard_of=tuple(partition(predicted, count)),
        cost_source=cost_source or ("model" if not costs else "results"),
    )


def load_plan(sweep: Sweep, count: int, costs_csv: str | Path | None = None) -> Plan:
    """:func:`plan_sweep` with costs read from ``costs_csv`` when one is given."""
    if costs_csv is None:
        return plan_sweep(sweep, count)
    return plan_sweep(sweep, count, costs_from_results(costs_csv), cost_source=str(costs_csv))


@dataclass(frozen=True)
class ShardRun:
    """What ``run --shard K/N`` hands the runner: the sweep, its cells, its sidecar entry."""

    sweep: Sweep
    index: int
    count: int
    only: frozenset[tuple]
    shard_meta: dict[str, object]

    @property
    def meta(self) -> dict[str, object]:
        """Extra sidecar entries of the shard's CSV."""
        return {"shard": self.shard_meta}


def shard_run(sweep: Sweep, shard: str, *, costs_csv: str | Path | None = None) -> ShardRun:
    """Plan ``sweep`` (``--methods`` already applied, so they are part of the plan) for ``K/N``.

    Raises :class:`ConfigError` for bad ``shard`` text or a bad costs CSV.
    """
    index, count = parse_shard(shard)
    plan = load_plan(sweep, count, costs_csv)
    return ShardRun(sweep, index, count, frozenset(plan.keys_of(index)), plan.sidecar(index))


def check_resume(output: str | Path, run: ShardRun) -> None:
    """Refuse to resume ``output`` unless the same shard of the same plan wrote it.

    Rows of another shard (or of an unsharded run) would turn into duplicates at merge time.
    """
    from .results import read_meta

    if not Path(output).is_file() or Path(output).stat().st_size == 0:
        return
    old = read_meta(output).get("shard") or {}
    new = run.shard_meta
    if not old or (old.get("index"), old.get("count"), old.get("plan")) != (
        new["index"],
        new["count"],
        new["plan"],
    ):
        was = f"shard {old['index']}/{old['count']} (plan {old.get('plan')})" if old else "no shard"
        raise ConfigError(
            f"{output}: written by {was}, not shard {run.index}/{run.count} (plan {new['plan']}); "
            "resume with the same --shard and --costs, or write to a new --output"
        )


def shard_output(default_dir: Path, name: str, index: int, count: int) -> Path:
    """Default CSV of shard ``index`` of ``count``: ``results/<name>-shard<K>of<N>.csv``."""
    return default_dir / f"{name}-shard{index}of{count}.csv"

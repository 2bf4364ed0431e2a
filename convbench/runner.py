"""Run a sweep: for every (case, allocator, method) cell verify, time, measure memory -> a row.

Each cell goes through the same steps, and each step can end it with a status instead of a time:

1. an explicit ``skip`` rule, or a cheaper cell of the facet overran the time budget -> ``skipped``
2. ``supports(case)`` says no -> ``unsupported``
3. ``estimate_bytes(case)`` above ``memory_limit`` -> ``skipped`` (the method never runs)
4. in a worker of its own, one call checked against the reference: mismatch -> ``wrong``,
   exception -> ``error``, :class:`Unsupported` -> ``unsupported``
5. timing in ``processes`` fresh worker processes, then peak memory in one more -> ``ok``

Nothing is measured in this process: every call that is timed or whose memory is taken runs in a
fresh worker (:mod:`convbench.measure.worker`), so a cell's numbers do not depend on what ran
before it, and a worker that dies or hangs is a row with a reason. The timing workers of a cell
run one per round, the rounds spread over the whole run (all cells once, then all cells again...),
and within a round the methods of one case are visited in turn (A B C), so a slow period of the
host hits the methods of a case alike and only one of the processes of a cell.

Rows are appended and flushed as each cell finishes; the rounds of unfinished cells go to a
:class:`~convbench.journal.Journal`, so an interrupted run loses at most the worker running, and
``resume=True`` skips the cells already in the CSV and the rounds already in the journal.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .cases import Case
from .config import MethodEntry, Sweep, with_methods
from .errors import ConfigError, ResultsError
from .journal import Journal, journal_path, pending
from .locks import measuring_lock, output_lock
from .measure.allocator import describe
from .measure.environment import environment, pinned_threads
from .measure.inputs import case_inputs
from .measure.memory import MEMORY_RESOLUTION_BYTES, MemoryResult
from .measure.timing import Timing
from .measure.worker import (
    Check,
    CheckFailed,
    CheckRequest,
    MemoryRequest,
    PeakAnswer,
    PeakRequest,
    Target,
    TimeAnswer,
    TimeRequest,
    WorkerFailed,
    Workers,
    optional_preload,
    preloaded_specs,
    worker_cpus,
)
from .progress import Bar, progress_bar
from .results import ROW_KEY, Row, RowWriter, check_overwrite, read_meta, write_meta
from .work import WorkItem, is_larger, only_keys, work_items

#: Marks the reason of an ok row whose cell overran the time budget (resume reads it back).
OVER_BUDGET = "over time budget"
#: Processes whose medians differ by more than this are named in the row's reason.
PROCESS_SPREAD_NOTE = 1.10

__all__ = ["OVER_BUDGET", "RunSummary", "WorkItem", "is_larger", "run_sweep", "work_items"]


@dataclass
class RunSummary:
    """What a run did: counts by status, the problem rows, time taken, where the rows are."""

    output: Path
    cells: int = 0
    methods: int = 0
    measured: int = 0
    already_done: int = 0
    counts: Counter = field(default_factory=Counter)
    problems: list[dict] = field(default_factory=list)
    wall_s: float = 0.0
    interrupted: bool = False

    def lines(self) -> list[str]:
        """The human summary printed at the end of ``convbench run``."""
        head = "interrupted" if self.interrupted else "done"
        counts = ", ".join(f"{self.counts.get(s, 0)} {s}" for s in _STATUS_ORDER)
        out = [
            f"{head}: {self.cells} cells x {self.methods} methods, {self.measured} rows written"
            + (f" ({self.already_done} already there)" if self.already_done else "")
            + f" in {self.wall_s:.1f} s",
            f"rows: {counts}",
        ]
        for row in self.problems:
            out.append(f"  {row['status']}: {row['method']} on {row['case']}: {row['reason']}")
        out.append(f"results: {self.output}")
        if self.interrupted:
            out.append(
                "resume with: --resume (rows written so far, and the timing rounds of cells"
                " not finished yet, are kept)"
            )
        return out


_STATUS_ORDER = ("ok", "skipped", "unsupported", "wrong", "error")


class Budget:
    """Cells where a method overran the time budget; larger cells of the facet are skipped."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.overruns: dict[str, list[Case]] = {}

    def note(self, method: str, case: Case) -> None:
        self.overruns.setdefault(method, []).append(case)

    def reason(self, method: str, case: Case) -> str | None:
        for small in self.overruns.get(method, []):
            if is_larger(case, small):
                return f"{OVER_BUDGET} ({self.budget_s:g} s) on cheaper cell {small.label()}"
        return None


# --------------------------------------------------------------------------- one case


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def reference_check(case: Case, x: np.ndarray, k: np.ndarray) -> Check:
    """The expected output of ``case`` and the absolute error tolerated (verify's rules)."""
    from . import verify

    if case.batch or case.filters:
        layer = importlib.import_module("convbench.layer")
        expected = layer.reference(x, k, case.stride, case.padding)
    else:
        expected = verify.reference(x, k, case.stride, case.padding)
    return Check(expected, verify.tolerance(case, x, k))


def _estimate(entry: MethodEntry, case: Case) -> int | str:
    with contextlib.suppress(Exception):  # a broken estimate must not lose the measurement
        return int(entry.method.estimate_bytes(case))
    return ""


def precheck(sweep: Sweep, item: WorkItem, budget: Budget) -> tuple[Row | None, int | str]:
    """The row of a cell that is not run at all (skip rule, budget, support, memory limit), or
    ``None``; and the method's memory estimate (``""`` when unknown or not asked for)."""
    case, entry = item.case, item.entry

    def row(status: str, **fields: object) -> Row:
        return Row(case, entry.name, entry.method.family, status, item.allocator, fields)

    reason = sweep.skip_reason(case, entry.name) or budget.reason(entry.name, case)
    if reason:
        return row("skipped", reason=reason), ""
    estimate = _estimate(entry, case)
    unsupported = entry.method.supports(case)
    if unsupported:
        return row("unsupported", reason=unsupported, estimated_bytes=estimate), estimate
    limit = sweep.memory_limit
    if isinstance(estimate, int) and estimate > limit:
        reason = f"estimate {_mib(estimate)} > memory_limit {_mib(limit)}"
        return row("skipped", reason=reason, estimated_bytes=estimate), estimate
    return None, estimate


def per_process(total: int, processes: int) -> int:
    """Samples (or minimum samples) each of ``processes`` workers takes for ``total`` in all."""
    return max(1, math.ceil(total / processes))


Show = Callable[[Case, str], None]


@dataclass
class Cell:
    """A cell being measured: its item and what its workers answered so far."""

    item: WorkItem
    estimate: int | str
    index: int  # its place among the items of its case
    answers: list[TimeAnswer] = field(default_factory=list)
    max_abs_err: float = math.nan
    first_call_s: float = math.nan
    checked: bool = False
    over_budget: bool = False
    row: Row | None = None  # set once the cell is finished (early: wrong, error, ...)

    def finish(self, status: str, reason: str, **fields: object) -> None:
        entry = self.item.entry
        self.row = Row(
            self.item.case,
            entry.name,
            entry.method.family,
            status,
            self.item.allocator,
            {"reason": reason, "estimated_bytes": self.estimate, **fields},
        )


class _NoJournal:
    """Stands in for a :class:`Journal` where nothing needs to survive an interrupt."""

    checks: dict = {}  # noqa: RUF012  (read-only, always empty)
    rounds: dict = {}  # noqa: RUF012

    def record_check(self, key: tuple, max_abs_err: float, first_call_s: float) -> None:
        pass

    def record_round(self, key: tuple, answer: TimeAnswer) -> None:
        pass


class _Group:
    """The cells of one (case, allocator): checked, then timed one round at a time.

    A round gives every live cell of the group one fresh worker, the methods in turn
    (A B C), so a slow period of the host hits them alike; the rounds of one group are spread
    over the whole run by :func:`_run_items`, so a slow period of a minute hits one of a
    cell's processes, not all of them.
    """

    def __init__(self, sweep: Sweep, items: Sequence[WorkItem], journal) -> None:
        self.sweep, self.items, self.journal = sweep, list(items), journal
        self.case = self.items[0].case
        self.rows: list[Row | None] = [None] * len(self.items)
        self.cells: list[Cell] = []

    def start(self, workers: Workers, budget: Budget, show: Show) -> list[Row]:
        """Pre-check every item, check the survivors' output; the rows that ended here."""
        for i, item in enumerate(self.items):
            early, estimate = precheck(self.sweep, item, budget)
            if early is None:
                self.cells.append(Cell(item, estimate, i))
            else:
                self.rows[i] = early
        if self.cells and not all(c.item.key() in self.journal.checks for c in self.cells):
            check = reference_check(self.case, *case_inputs(self.case, self.sweep.seed))
        for cell in self.cells:
            key = cell.item.key()
            if key in self.journal.checks:  # checked before an interrupt
                cell.max_abs_err, cell.first_call_s = self.journal.checks[key]
                cell.answers = list(self.journal.rounds.get(key, []))
                continue
            show(self.case, f"{cell.item.entry.name} (check)")
            target = target_of(self.sweep, cell.item)
            answer = workers.run(CheckRequest(target, check, budget_s=self.sweep.time_budget_s))
            if isinstance(answer, CheckFailed):
                cell.finish(answer.status, answer.reason, max_abs_err=answer.max_abs_err)
            elif isinstance(answer, WorkerFailed):
                cell.finish("error", answer.reason)
            else:
                cell.max_abs_err = answer.max_abs_err
                cell.first_call_s = answer.first_call_s
                self.journal.record_check(key, answer.max_abs_err, answer.first_call_s)
        return [r for r in self.rows if r is not None] + self._finished()

    def time_round(self, r: int, workers: Workers, budget: Budget, show: Show) -> list[Row]:
        """Round ``r``: one fresh worker per live cell that lacks it; the rows that ended."""
        t, procs = self.sweep.timing, self.sweep.processes
        for cell in self.cells:
            if cell.row is not None or len(cell.answers) > r:
                continue
            show(self.case, f"{cell.item.entry.name} (process {r + 1}/{procs})")
            answer = workers.run(
                TimeRequest(
                    target_of(self.sweep, cell.item),
                    allocator=cell.item.allocator,
                    warmup=t.warmup,
                    min_sample_s=t.min_sample_s,
                    repeats=per_process(t.repeats, procs),
                    min_repeats=per_process(t.min_repeats, procs),
                    budget_s=self.sweep.time_budget_s / procs,
                )
            )
            if isinstance(answer, WorkerFailed):
                cell.finish("error", f"while timing (process {r + 1} of {procs}): {answer.reason}")
            else:
                cell.answers.append(answer)
                self.journal.record_round(cell.item.key(), answer)
        if r == 0:
            self._note_budget(budget)
        return self._finished()

    def _note_budget(self, budget: Budget) -> None:
        # Decided on the first process, so that larger cells measured later in this round can
        # be skipped. Over budget means the method itself is slow here: its calls, one per
        # sample, would take longer than the budget. Measurement overhead is not: each worker
        # gets budget / processes and pays its own calibration and warm-up.
        repeats, budget_s = self.sweep.timing.repeats, self.sweep.time_budget_s
        for cell in self.cells:
            if cell.row is None and cell.answers:
                cell.over_budget = cell.answers[0].timing.median_s * repeats > budget_s
                if cell.over_budget:
                    budget.note(cell.item.entry.name, cell.item.case)

    def progress(self) -> int:
        """Rounds done, summed over the items (an item with its row counts every round)."""
        rounds = self.sweep.processes
        return sum(rounds if row is not None else 0 for row in self.rows) + sum(
            min(len(c.answers), rounds) for c in self.cells if self.rows[c.index] is None
        )

    def _finished(self) -> list[Row]:
        """Rows of cells that ended early and were not handed out yet."""
        out = []
        for cell in self.cells:
            if cell.row is not None and self.rows[cell.index] is None:
                self.rows[cell.index] = cell.row
                out.append(cell.row)
        return out

    def finish(
        self, workers: Workers, memory_cache: dict[tuple, MemoryResult], show: Show
    ) -> list[Row]:
        """The rows of the cells timed in every round (memory taken now), in the items' order."""
        out = []
        for cell in self.cells:
            if self.rows[cell.index] is None:
                row = timed_row(self.sweep, cell, workers, memory_cache, show)
                self.rows[cell.index] = row
                out.append(row)
        return out


def measure_case(
    sweep: Sweep,
    items: Sequence[WorkItem],
    workers: Workers,
    *,
    budget: Budget | None = None,
    memory_cache: dict[tuple, MemoryResult] | None = None,
    show: Show = lambda case, method: None,
) -> list[Row]:
    """Rows of the ``items`` of one case and allocator, in the order given, all rounds at once.

    Each method that passes the pre-checks has one call checked against the reference in a
    fresh worker, then is timed in ``sweep.processes`` fresh workers, the methods visited in
    turn (A B C A B C ...). Then one more worker per method takes its peak memory (reused from
    ``memory_cache`` when the other allocator of the same case already has it). A method's own
    failure never raises: it becomes its row's status. Cost: ``processes + 2`` worker starts
    (~10 ms each) plus the calls themselves, per method. A sweep spreads the rounds over the
    whole run instead (:func:`run_sweep`).
    """
    budget = budget or Budget(sweep.time_budget_s)
    group = _Group(sweep, items, _NoJournal())
    group.start(workers, budget, show)
    for r in range(sweep.processes):
        group.time_round(r, workers, budget, show)
    group.finish(workers, {} if memory_cache is None else memory_cache, show)
    return group.rows  # type: ignore[return-value]  # every item has its row now


def target_of(sweep: Sweep, item: WorkItem) -> Target:
    """What a worker calls for ``item``: the method (spec or pickled function) and the case."""
    entry = item.entry
    return Target(
        item.case, entry.spec, entry.layer, sweep.seed, sweep.threads, pickled=entry.pickled
    )


def timed_row(
    sweep: Sweep,
    cell: Cell,
    workers: Workers,
    memory_cache: dict[tuple, MemoryResult],
    show: Show,
) -> Row:
    item, settings = cell.item, sweep.timing
    timings = [a.timing for a in cell.answers]
    stats = combine(timings)
    notes = list(dict.fromkeys(n for t in timings for n in t.notes))
    if stats["unstable"]:
        notes.append(str(stats["unstable"]))
    if stats["process_spread"] > PROCESS_SPREAD_NOTE:
        notes.append(f"processes disagree: slowest/fastest x{stats['process_spread']:.2f}")
    median_s = float(stats["time_median_s"])
    if cell.over_budget:
        first = timings[0].median_s
        notes.append(
            f"{OVER_BUDGET} ({sweep.time_budget_s:g} s < {settings.repeats} x {first:.3g} s)"
            ": larger cells skipped"
        )
    memory = MemoryResult()
    if sweep.memory_pass:
        memory = _memory(sweep, item, median_s, workers, memory_cache, show)
        if memory.note:
            notes.append(memory.note)
    del stats["unstable"]
    return Row(
        item.case,
        item.entry.name,
        item.entry.method.family,
        "ok",
        item.allocator,
        {
            **stats,
            "reason": "; ".join(notes),
            "host_load": max((a.host_load for a in cell.answers), default=math.nan),
            "probe_s": float(np.median([a.probe_s for a in cell.answers])),
            "peak_bytes": memory.peak_bytes,
            "tracemalloc_bytes": memory.tracemalloc_bytes,
            "rss_peak_bytes": memory.rss_bytes,
            "estimated_bytes": cell.estimate,
            "max_abs_err": cell.max_abs_err,
            "first_call_s": cell.first_call_s,
            "gflops": item.case.flops / median_s / 1e9 if median_s > 0 else "",
        },
    )


def _memory(
    sweep: Sweep,
    item: WorkItem,
    call_s: float,
    workers: Workers,
    cache: dict[tuple, MemoryResult],
    show: Callable[[Case, str], None],
) -> MemoryResult:
    key = (item.case, item.entry.name)
    if key not in cache:
        show(item.case, f"{item.entry.name} (memory)")
        answer = workers.run(MemoryRequest(target_of(sweep, item), call_s=call_s))
        if isinstance(answer, WorkerFailed):
            answer = MemoryResult(note=f"memory pass: {answer.reason}")
        cache[key] = answer
    return cache[key]


def combine(timings: Sequence[Timing]) -> dict[str, object]:
    """The row's timing columns from the samples of several worker processes.

    The medians are the median of the per-process medians (one disturbed process moves them
    less than it moves a pooled median); min and IQR are over every sample; ``process_spread``
    is the slowest over the fastest per-process CPU median.
    """
    walls = [s for t in timings for s in t.wall_s]
    cpus = [s for t in timings for s in t.cpu_s]
    owner = [i for i, t in enumerate(timings) for _ in t.wall_s]
    wall_medians = [t.median_s for t in timings]
    cpu_medians = [t.cpu_median_s for t in timings]
    median_s = float(np.median(wall_medians))
    cpu_median_s = float(np.median(cpu_medians))
    q1, q3 = np.percentile(walls, [25, 75])
    lo = min(cpu_medians)
    iqr = float(q3 - q1)
    unstable = ""
    if len(walls) >= 4 and iqr >= 0.10 * median_s:
        unstable = f"unstable: IQR is {100 * iqr / median_s:.0f}% of the median"
    return {
        "loops": int(np.median([t.loops for t in timings])),
        "repeats": len(walls),
        "processes": len(timings),
        "time_min_s": min(walls),
        "time_median_s": median_s,
        "time_iqr_s": iqr,
        "cpu_min_s": min(cpus),
        "cpu_median_s": cpu_median_s,
        "wall_cpu_ratio": median_s / cpu_median_s if cpu_median_s > 0 else math.nan,
        "samples_s": walls,
        "cpu_samples_s": cpus,
        "sample_process": owner,
        "process_medians_s": cpu_medians,
        "process_spread": max(cpu_medians) / lo if lo > 0 else math.nan,
        "unstable": unstable,
    }


# --------------------------------------------------------------------------- the sweep


def utc_now() -> str:
    """The time now, as rows and sidecars record it (UTC, ISO 8601, seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_resumable(sweep: Sweep, output: Path) -> None:
    meta = read_meta(output)
    old = meta.get("config_hash")
    if old and old != sweep.config_hash:
        raise ConfigError(
            f"{output}: written by a different config (hash {old}, now {sweep.config_hash}); "
            "resume needs the same config, or write to a new --output"
        )


def _budget_from_rows(writer: RowWriter, output: Path, budget: Budget) -> None:
    """On resume, recover which cells overran the budget from their rows' reasons."""
    from .results import read_rows

    if not writer.existing_keys:
        return
    for r in read_rows(output).to_dict("records"):
        if r["status"] == "ok" and OVER_BUDGET in r["reason"]:
            budget.note(str(r["method"]), Case.from_key(r))


def sidecar(sweep: Sweep, started: str, workers: Workers, resumed_from: Mapping | None) -> dict:
    """The sidecar of a run: the config, how it was measured, and the machine."""
    meta: dict[str, object] = {
        "config": dict(sweep.raw),
        "config_name": sweep.name,
        "config_path": sweep.path,
        "config_hash": sweep.config_hash,
        "methods": [
            {"name": e.name, "spec": e.spec, "family": e.method.family} for e in sweep.methods
        ],
        "row_key": list(ROW_KEY),
        "started_at": started,
        "memory_pass": sweep.memory_pass,
        "memory_source": "max(VmHWM delta, tracemalloc peak) of one call in a fresh worker",
        "memory_resolution_bytes": MEMORY_RESOLUTION_BYTES,
        "processes": sweep.processes,
        "worker_start": f"{workers.method} (fresh process per measurement)",
        "worker_cpus": list(workers.cpus) or "not pinned",
        "allocator": {name: describe(name) for name in sweep.allocators},
        **environment(sweep.threads),
    }
    if resumed_from is not None:  # keep when the CSV was begun; started_at is this run's start
        meta["first_started_at"] = resumed_from.get("first_started_at") or resumed_from.get(
            "started_at", started
        )
    return meta


def gemm_peak(workers: Workers) -> dict[str, object]:
    """Sidecar entries of the single-core float64 GEMM peak, measured in a fresh worker:
    ``gemm_peak_gflops`` (absent when the probe failed) and ``gemm_peak`` (how, or why not)."""
    answer = workers.run(PeakRequest())
    if not isinstance(answer, PeakAnswer):
        return {"gemm_peak": f"not measured: {getattr(answer, 'reason', answer)}"}
    size = f"{answer.size}x{answer.size}"
    how = f"best of {answer.samples} float64 {size} matmuls, 1 BLAS thread, fresh worker"
    return {"gemm_peak_gflops": round(answer.gflops, 3), "gemm_peak": how}


def run_sweep(
    sweep: Sweep,
    output: str | Path,
    *,
    resume: bool = False,
    methods: Sequence[str] | None = None,
    only: Iterable[tuple] | None = None,
    progress: bool = True,
    on_row: Callable[[dict], None] | None = None,
    extra_meta: Mapping[str, object] | None = None,
    workers: Workers | None = None,
    overwrite: bool = False,
    wait: bool = True,
    shared_machine: bool = False,
) -> RunSummary:
    """Measure every cell of ``sweep`` and append its rows to ``output`` (plus the sidecar).

    Parameters
    ----------
    methods : restrict to (or add) these method names/specs (see :func:`config.with_methods`).
    only : measure only the cells whose :func:`results.row_key` is in this set.
    extra_meta : more sidecar entries (e.g. ``shard`` from :mod:`convbench.shard`).
    progress : show a rich progress bar (case, method, ETA).
    on_row : called with each row (as a dict) after it is written.
    workers : how worker processes are started (default: :class:`Workers`).
    overwrite : replace an ``output`` that has rows (refused otherwise, unless ``resume``); the
        previous file is kept as ``.bak`` until the first new row is written.
    wait : when another convbench measures on this machine, wait for it (False: raise).
    shared_machine : measure without the machine-wide lock; rows measured while another
        convbench measured say so in their reason, and the sidecar has ``shared_machine: true``.

    A KeyboardInterrupt ends the run cleanly: the rows written stay, the sidecar says
    ``interrupted``, and the summary too. Errors of methods become rows; bad input raises
    :class:`ConfigError`; another writer of ``output``, an ``output`` with rows (without
    ``resume``/``overwrite``) or a failed write raise :class:`ResultsError` (rows written stay
    valid), another measuring convbench with ``wait=False`` :class:`ConvbenchError`.
    """
    if methods:
        sweep = with_methods(sweep, methods)
    output = Path(output)
    if resume:
        _check_resumable(sweep, output)
    items = only_keys(work_items(sweep), only)
    summary = RunSummary(output, cells=len(sweep.cases), methods=len(sweep.methods))
    t0 = time.perf_counter()
    own_workers = workers is None
    workers = workers or Workers(
        threads=sweep.threads,
        cpus=worker_cpus(sweep.cpu, sweep.threads),
        preload=optional_preload(e.method for e in sweep.methods),
        preload_for=preloaded_specs((e.spec, e.method) for e in sweep.methods),
    )
    meta = sidecar(sweep, utc_now(), workers, read_meta(output) if resume else None)
    meta.update(extra_meta or {})
    budget = Budget(sweep.time_budget_s)
    with contextlib.ExitStack() as stack:
        # One writer per results file, no silent overwrite, one measurement per machine.
        stack.enter_context(output_lock(output))
        check_overwrite(output, resume=resume, overwrite=overwrite)
        if (left := pending(output)) and not (resume or overwrite):
            raise ResultsError(
                f"{output}: an interrupted run left {left} timing rounds in "
                f"{journal_path(output).name}: --resume to continue, --overwrite to replace"
            )
        machine = stack.enter_context(measuring_lock(wait=wait, shared_machine=shared_machine))
        meta["shared_machine"] = machine.shared
        writer = stack.enter_context(RowWriter(output, resume=resume, overwrite=overwrite))
        if resume:
            _budget_from_rows(writer, output, budget)
        todo = [it for it in items if it.key() not in writer.existing_keys]
        summary.already_done = len(items) - len(todo)
        write_meta(output, {**meta, "finished_at": None, "interrupted": None})
        if own_workers:
            stack.enter_context(workers)
        if todo:
            meta.update(gemm_peak(workers))
        stack.enter_context(pinned_threads(sweep.threads))  # for the reference computed here
        # The first measurement of this run, row or round, ends the previous results' backup.
        journal = Journal(output, resume=resume, on_first_write=writer.commit)
        complete = [False]  # set once every row is written; a failed run keeps its journal
        stack.callback(lambda: journal.close(complete=complete[0]))
        bar = stack.enter_context(progress_bar(progress, len(todo) * sweep.processes))
        try:
            for row in _run_items(sweep, todo, budget, workers, bar, journal):
                if (note := machine.note()) and row.status == "ok":  # measured alongside another
                    row = row.replace(
                        reason="; ".join(filter(None, (str(row.get("reason")), note)))
                    )
                as_dict = row.as_dict()
                writer.write(as_dict)
                summary.measured += 1
                summary.counts[row.status] += 1
                if row.status in ("wrong", "error"):
                    summary.problems.append({**as_dict, "case": row.case.label()})
                if on_row is not None:
                    on_row(as_dict)
            complete[0] = True
        except KeyboardInterrupt:
            summary.interrupted = True
        summary.wall_s = time.perf_counter() - t0
        write_meta(output, {**meta, "finished_at": utc_now(), "interrupted": summary.interrupted})
    return summary


def case_groups(items: list[WorkItem]) -> Iterator[list[WorkItem]]:
    """Consecutive items of one (case, allocator): the methods measured interleaved."""
    group: list[WorkItem] = []
    for item in items:
        if group and (item.case, item.allocator) != (group[0].case, group[0].allocator):
            yield group
            group = []
        group.append(item)
    if group:
        yield group


def _run_items(
    sweep: Sweep,
    items: list[WorkItem],
    budget: Budget,
    workers: Workers,
    bar: Bar,
    journal: Journal,
) -> Iterator[Row]:
    """Rows of ``items``: every cell timed once per round, the rounds spread over the run.

    Round 1 checks and times every cell, case by case (a cell over the time budget skips the
    larger cells of its facet measured after it); each later round times every live cell once
    more, in the same order; the last one also takes memory and yields the rows. So the
    ``processes`` workers of one cell run minutes apart on a long sweep, and a slow period of
    the host moves one of them, which the row's median of per-process medians shrugs off and
    its ``process_spread`` shows (asv's ``rounds`` do the same). Each round forks its workers
    from a new server, so the processes of a cell also differ in address-space layout, which
    alone moves some methods' times by up to 15 % (:meth:`Workers.restart`). A row that ends
    early (a wrong output, a crash) is yielded at once.
    """
    groups = [_Group(sweep, g, journal) for g in case_groups(items)]
    memory_cache: dict[tuple, MemoryResult] = {}
    rounds = sweep.processes
    for r in range(rounds):
        if r > 0:  # each round's workers fork from a new server: a new layout (Workers.restart)
            workers.restart()
            workers.ready()
        for group in groups:
            before = group.progress()
            done: list[Row] = []
            if r == 0:
                done += group.start(workers, budget, bar.show)
            done += group.time_round(r, workers, budget, bar.show)
            if r == rounds - 1:
                if memory_cache and next(iter(memory_cache))[0] != group.case:
                    memory_cache.clear()
                done += group.finish(workers, memory_cache, bar.show)
            bar.advance(group.progress() - before)
            for row in done:
                yield row.replace(finished_at=utc_now())

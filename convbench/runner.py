"""Run a sweep: for every (case, method) cell verify, time, measure memory, write one row.

Each cell goes through the same steps, and each step can end it with a status instead of a time:

1. an explicit ``skip`` rule, or a cheaper cell of the facet overran the time budget -> ``skipped``
2. ``supports(case)`` says no, or the method raises :class:`Unsupported` -> ``unsupported``
3. ``estimate_bytes(case)`` above ``memory_limit`` -> ``skipped`` (the method never runs)
4. one call checked against the reference: mismatch -> ``wrong``, exception -> ``error``
5. calibrated timing in this process, then peak memory in the worker -> ``ok``

Rows are appended and flushed as each cell finishes, so Ctrl-C (or a kill) loses nothing
measured, and ``resume=True`` skips the cells already in the CSV.
"""

from __future__ import annotations

import contextlib
import gc
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
from .config import MethodEntry, Sweep, TimingSettings, with_methods
from .errors import ConfigError, Unsupported
from .locks import measuring_lock, output_lock
from .measure.allocator import steady_allocator
from .measure.environment import environment, pinned_threads
from .measure.inputs import case_inputs
from .measure.memory import MemoryResult, MemoryWorker
from .measure.timing import time_call
from .results import (
    ROW_KEY,
    RowWriter,
    check_overwrite,
    make_row,
    read_meta,
    row_key,
    write_meta,
)

#: Marks the reason of an ok row whose cell overran the time budget (resume reads it back).
OVER_BUDGET = "over time budget"


@dataclass(frozen=True)
class WorkItem:
    """One cell of the sweep: a case and a method entry."""

    case: Case
    entry: MethodEntry

    def key(self) -> tuple:
        """The :func:`convbench.results.row_key` its row will have."""
        return row_key({"method": self.entry.name, **self.case.key()})


def work_items(sweep: Sweep) -> list[WorkItem]:
    """Every (case, method) cell in a deterministic order: case by case, methods as configured.

    The order depends only on the config, so a shard can take a fixed subset of this list.
    """
    return [WorkItem(case, entry) for case in sweep.cases for entry in sweep.methods]


def facet(case: Case) -> tuple:
    """Cells of one facet differ only in input and kernel size."""
    return (case.depth, case.stride, case.padding, case.dtype, case.batch, case.filters)


def is_larger(case: Case, than: Case) -> bool:
    """Whether ``case`` costs every method at least as much as ``than``.

    Same facet, an input at least as large in h and w (what FFT methods pay for) and at least as
    many multiply-adds ``Ho * Wo * kh * kw * C`` (what direct methods pay for). A larger kernel
    alone is not enough: as it approaches the input the outputs, and the direct work, shrink.
    """
    return (
        facet(case) == facet(than)
        and all(a >= b for a, b in zip(case.input_size, than.input_size, strict=True))
        and case.flops >= than.flops
    )


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
            out.append("resume with: --resume (rows written so far are kept)")
        return out


_STATUS_ORDER = ("ok", "skipped", "unsupported", "wrong", "error")


class _Budget:
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


# --------------------------------------------------------------------------- one cell


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}"[:300] if text else type(e).__name__


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def _reference(case: Case, x: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, float]:
    """The expected output of ``case`` and the absolute error tolerated (verify's rules)."""
    from . import verify

    if case.batch or case.filters:
        layer = importlib.import_module("convbench.layer")
        expected = layer.reference(x, k, case.stride, case.padding)
    else:
        expected = verify.reference(x, k, case.stride, case.padding)
    return expected, verify.tolerance(case, x, k)


def _check(case: Case, out: object, expected: tuple[np.ndarray, float]) -> tuple[bool, float, str]:
    from . import verify

    try:
        return verify.check(out, expected[0], dtype=case.dtype, tol=expected[1])
    except Exception as e:  # an output that check cannot even compare is wrong, not a crash
        return False, math.nan, f"cannot compare with the reference: {_one_line(e)}"


def measure_case(
    case: Case,
    entry: MethodEntry,
    settings: TimingSettings,
    *,
    seed: int = 0,
    time_budget_s: float = math.inf,
    memory_limit: int | None = None,
    memory: MemoryWorker | None = None,
    inputs: tuple[np.ndarray, np.ndarray] | None = None,
    expected: tuple[np.ndarray, float] | None = None,
) -> dict:
    """Verify, time and measure one cell; return its complete results row.

    ``inputs`` / ``expected`` (reference output, tolerance) let the caller share them between
    the methods of one case (they are rebuilt from ``seed`` otherwise). ``memory`` is the worker
    for the memory pass (none: no ``peak_bytes``). A method's own failure never raises: it
    becomes the row's status.
    """
    method = entry.method

    def row(status: str, **fields: object) -> dict:
        return make_row(case, entry.name, method.family, status, **fields)

    estimate: object = ""
    with contextlib.suppress(Exception):  # a broken estimate must not lose the measurement
        estimate = int(method.estimate_bytes(case))
    reason = method.supports(case)
    if reason:
        return row("unsupported", reason=reason, estimated_bytes=estimate)
    if memory_limit is not None and isinstance(estimate, int) and estimate > memory_limit:
        return row(
            "skipped",
            reason=f"estimate {_mib(estimate)} > memory_limit {_mib(memory_limit)}",
            estimated_bytes=estimate,
        )
    x, k = inputs if inputs is not None else case_inputs(case, seed)
    stride, padding = case.stride, case.padding
    try:
        out = method.func(x, k, stride, padding)
    except Unsupported as e:
        return row("unsupported", reason=str(e), estimated_bytes=estimate)
    except Exception as e:  # any failure of the method is a row, never the end of the sweep
        return row("error", reason=_one_line(e), estimated_bytes=estimate)
    if expected is None:
        expected = _reference(case, x, k)
    ok, err, message = _check(case, out, expected)
    del out
    if not ok:
        return row("wrong", reason=message, max_abs_err=err, estimated_bytes=estimate)
    try:
        timing = time_call(
            lambda: method.func(x, k, stride, padding),
            warmup=settings.warmup,
            min_sample_s=settings.min_sample_s,
            repeats=settings.repeats,
            min_repeats=settings.min_repeats,
            budget_s=time_budget_s,
        )
    except Exception as e:  # e.g. a method that fails only sometimes
        return row("error", reason=f"while timing: {_one_line(e)}", estimated_bytes=estimate)
    notes = list(timing.notes)
    if timing.unstable():
        notes.append(timing.unstable())
    # Over budget means the method itself is slow here: its calls, one per sample, would take
    # longer than the budget. Measurement overhead (calibrated loops, a busy machine) is not.
    method_s = timing.median_s * settings.repeats
    if timing.cut_by_budget or method_s > time_budget_s:
        notes.append(
            f"{OVER_BUDGET} ({time_budget_s:g} s < {settings.repeats} x {timing.median_s:.3g} s)"
            ": larger cells skipped"
        )
    mem = MemoryResult()
    if memory is not None:
        mem = memory.measure(case, entry.spec, layer=entry.layer, call_s=timing.median_s)
        if mem.note:
            notes.append(mem.note)
    return row(
        "ok",
        reason="; ".join(notes),
        loops=timing.loops,
        repeats=timing.repeats,
        time_min_s=timing.min_s,
        time_median_s=timing.median_s,
        time_iqr_s=timing.iqr_s,
        cpu_min_s=timing.cpu_min_s,
        cpu_median_s=timing.cpu_median_s,
        wall_cpu_ratio=timing.wall_cpu_ratio,
        samples_s=timing.wall_s,
        cpu_samples_s=timing.cpu_s,
        peak_bytes="" if mem.peak_bytes is None else mem.peak_bytes,
        tracemalloc_bytes="" if mem.tracemalloc_bytes is None else mem.tracemalloc_bytes,
        estimated_bytes=estimate,
        max_abs_err=err,
        gflops=case.flops / timing.median_s / 1e9 if timing.median_s > 0 else "",
    )


# --------------------------------------------------------------------------- the sweep


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_resumable(sweep: Sweep, output: Path) -> None:
    meta = read_meta(output)
    old = meta.get("config_hash")
    if old and old != sweep.config_hash:
        raise ConfigError(
            f"{output}: written by a different config (hash {old}, now {sweep.config_hash}); "
            "resume needs the same config, or write to a new --output"
        )


def _budget_from_rows(writer: RowWriter, output: Path, budget: _Budget) -> None:
    """On resume, recover which cells overran the budget from their rows' reasons."""
    from .results import read_rows

    if not writer.existing_keys:
        return
    for r in read_rows(output).to_dict("records"):
        if r["status"] == "ok" and OVER_BUDGET in r["reason"]:
            budget.note(str(r["method"]), Case.from_key(r))


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
    on_row : called with each row after it is written.
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
    items = work_items(sweep)
    if only is not None:
        wanted = set(only)
        items = [it for it in items if it.key() in wanted]
    summary = RunSummary(output, cells=len(sweep.cases), methods=len(sweep.methods))
    started, t0 = _now(), time.perf_counter()
    meta = {
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
        "memory_source": "",
        **environment(sweep.threads),
        **(extra_meta or {}),
    }
    if resume:  # keep when the CSV was begun; started_at is this (resumed) run's start
        meta["first_started_at"] = read_meta(output).get("first_started_at") or read_meta(
            output
        ).get("started_at", started)
    # Before anything is timed: every cell then meets the same allocator, whatever ran before.
    meta["allocator"] = steady_allocator()
    budget = _Budget(sweep.time_budget_s)
    gc.freeze()  # everything imported so far is permanent: collections stay cheap while timing
    with contextlib.ExitStack() as stack:
        # One writer per results file, no silent overwrite, one measurement per machine (#17).
        stack.enter_context(output_lock(output))
        check_overwrite(output, resume=resume, overwrite=overwrite)
        machine = stack.enter_context(measuring_lock(wait=wait, shared_machine=shared_machine))
        meta["shared_machine"] = machine.shared
        writer = stack.enter_context(RowWriter(output, resume=resume, overwrite=overwrite))
        if resume:
            _budget_from_rows(writer, output, budget)
        todo = [it for it in items if it.key() not in writer.existing_keys]
        summary.already_done = len(items) - len(todo)
        write_meta(output, {**meta, "finished_at": None, "interrupted": None})
        worker = stack.enter_context(MemoryWorker(sweep.threads, sweep.seed))
        stack.enter_context(pinned_threads(sweep.threads))
        bar = stack.enter_context(_progress(progress, len(todo)))
        try:
            for row in _run_items(sweep, todo, budget, worker if sweep.memory_pass else None, bar):
                if (note := machine.note()) and row["status"] == "ok":  # measured alongside (#17)
                    row["reason"] = "; ".join(filter(None, (str(row["reason"]), note)))
                writer.write(row)
                summary.measured += 1
                summary.counts[row["status"]] += 1
                if row["status"] in ("wrong", "error"):
                    label = Case.from_key(row).label()
                    summary.problems.append({**row, "case": label})
                if row["peak_bytes"] != "" and not meta["memory_source"]:
                    meta["memory_source"] = "VmHWM in a worker with MALLOC_MMAP_THRESHOLD_"
                if on_row is not None:
                    on_row(row)
        except KeyboardInterrupt:
            summary.interrupted = True
        summary.wall_s = time.perf_counter() - t0
        write_meta(output, {**meta, "finished_at": _now(), "interrupted": summary.interrupted})
    return summary


def _run_items(
    sweep: Sweep, items: list[WorkItem], budget: _Budget, worker: MemoryWorker | None, bar
) -> Iterator[dict]:
    """Rows of ``items`` in order; inputs and the reference are built once per case."""
    current: Case | None = None
    inputs = expected = None
    for item in items:
        case, entry = item.case, item.entry
        bar.show(case, entry.name)
        if case != current:
            current, expected = case, None
            inputs = case_inputs(case, sweep.seed)
        reason = sweep.skip_reason(case, entry.name) or budget.reason(entry.name, case)
        if reason:
            row = make_row(case, entry.name, entry.method.family, "skipped", reason=reason)
        else:
            if expected is None:
                expected = _reference(case, *inputs)
            row = measure_case(
                case,
                entry,
                sweep.timing,
                seed=sweep.seed,
                time_budget_s=sweep.time_budget_s,
                memory_limit=sweep.memory_limit,
                memory=worker,
                inputs=inputs,
                expected=expected,
            )
            if OVER_BUDGET in str(row["reason"]):
                budget.note(entry.name, case)
        row["finished_at"] = _now()
        bar.advance()
        yield row


class _NoProgress:
    def show(self, case: Case, method: str) -> None:
        pass

    def advance(self) -> None:
        pass


class _RichProgress:
    def __init__(self, progress, task) -> None:  # rich's Progress and TaskID
        self.progress, self.task = progress, task

    def show(self, case: Case, method: str) -> None:
        self.progress.update(self.task, description=f"{case.label()} | {method}")

    def advance(self) -> None:
        self.progress.advance(self.task)


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[_NoProgress | _RichProgress]:
    if not enabled:
        yield _NoProgress()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as progress:
        yield _RichProgress(progress, progress.add_task("starting", total=total))

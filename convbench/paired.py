"""Base and head measured side by side: paired rounds, in random order, two cores at once.

A slow period of a shared host lasts seconds to minutes and slows whatever runs in it, so two
measurements taken minutes apart answer different questions. Here every cell of the sweep is
measured in ``rounds`` rounds, and in each round the base and the head each get one fresh
worker process, back to back in a random order (randomized interleaved trials), or, where the
machine has two free CPUs, **at the same time**, one pinned to each CPU (a *duet*; which side
gets which CPU is drawn per round). Either way both samples of a round saw the same host, and
the per-round ratio head / base cancels what they shared
(:func:`convbench.stats.judge_paired`).

A duet needs the second CPU to itself: with another busy process on a 2-CPU machine, three
processes share two CPUs and one side of each round is time-sliced with the intruder while the
other is not (measured with a memory-bandwidth-hungry neighbour: per-round ratios spread
+-10-20 % in a duet, +-2-3 % one after the other). So a duet runs only while the other
processes of the machine use less than ``MAX_HOST_LOAD`` CPUs, judged from the load each
worker saw while it sampled (:class:`SecondCpu`); otherwise rounds run one side after the
other, and switch back when the load goes.

Rounds run over the whole sweep in turn (round 1 of every cell, then round 2, ...), so the
rounds of one cell are spread over the whole measurement, and each round's workers fork from
new servers (a new address-space layout each round, see ``_new_servers``). Each side's rows
look like a run's (:mod:`convbench.runner`): worker process ``i`` is round ``i``. Before round 1
each side checks one call of the cell against the reference; after the last, each side takes
the cell's peak memory. Skip rules, support, the memory limit and the time budget (judged on
round 1, by the slower side) apply to both sides alike, so the cells stay comparable.

A cell whose median ratio after those rounds lies beyond the factor (either way) gets
``more_rounds`` more, spread over the sweep like the first ones, and is judged on all of them:
here fresh processes of the same code differ by a few percent to 15 % (per-round ratios with a
MAD of 7-10 %), so 16 rounds cannot tell x1.10 from x1.05, and the few cells that moved are
where more rounds pay. An unchanged cell costs nothing more; a cell that moved by chance
mostly moves back (more rounds only narrow its interval around the truth).

Cost, in worker calls per ``ok`` cell and side: 1 check + ``rounds`` timings (+ ``more_rounds``
for a cell that moved) + 1 memory; a duet runs the two sides' calls concurrently, so the wall
time is about one side's.
"""

from __future__ import annotations

import math
import os
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .cases import Case
from .config import Sweep
from .measure.inputs import case_inputs
from .measure.memory import MemoryResult
from .measure.worker import (
    Answer,
    CheckFailed,
    CheckRequest,
    MemoryRequest,
    Ping,
    Request,
    TimeAnswer,
    TimeRequest,
    WorkerFailed,
    Workers,
)
from .results import Row
from .rules import CONFIDENCE, MAX_HOST_LOAD, PAIRED_FACTOR, ROUND_SAMPLES, TimeBasis
from .runner import (
    Budget,
    Cell,
    case_groups,
    per_process,
    precheck,
    reference_check,
    target_of,
    timed_row,
    utc_now,
)
from .stats import judge_paired
from .work import WorkItem, work_items


@dataclass
class Side:
    """One side of a paired measurement: its name and its workers, one per CPU slot.

    A duet has two slots (one per CPU) and each side has workers on both, so that the sides can
    swap CPUs from round to round; otherwise each side has one.
    """

    name: str
    slots: tuple[Workers, ...]


@dataclass
class PairedRun:
    """What :func:`measure_paired` measured: each side's rows, in sweep order.

    ``unavailable`` maps a method to why the base could not run it (its worker failed on the
    check: the method does not import there, or its process died); such cells have no base row.
    """

    base_rows: list[Row]
    head_rows: list[Row]
    rounds: int
    duet: bool
    unavailable: dict[str, str] = field(default_factory=dict)
    #: Paired timing calls run at the same time, and one after the other (in a duet setup:
    #: while the second CPU was busy with other work).
    together: int = 0
    one_by_one: int = 0
    #: Cells (method, case label) that moved beyond the factor and got ``more_rounds`` more.
    extended: list[str] = field(default_factory=list)


class BaseUnavailable(Exception):
    """The base could run none of the methods it was asked to check; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def duet_cpus(setting: str | int, threads: int = 1) -> tuple[tuple[int, ...], ...] | None:
    """Two disjoint CPU sets of ``threads`` CPUs each for a duet, or ``None`` (too few CPUs).

    ``auto``: the last ``2 * threads`` CPUs this process may use; a CPU number: from there;
    ``none``: two unpinned slots (the OS places them). Where affinity is unknown, unpinned
    slots when the machine has enough CPUs.
    """
    if not hasattr(os, "sched_getaffinity"):
        enough = (os.cpu_count() or 1) >= 2 * threads
        return ((), ()) if enough else None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2 * threads:
        return None
    if setting == "none":
        return ((), ())
    pick = (
        allowed[-2 * threads :] if setting == "auto" else [c for c in allowed if c >= int(setting)]
    )
    if len(pick) < 2 * threads:
        return None
    return tuple(pick[:threads]), tuple(pick[threads : 2 * threads])


def run_together(jobs: Sequence[tuple[Workers, Request]]) -> list[Answer]:
    """Answer each ``(workers, request)`` at the same time, each in its own worker process.

    The parent only waits on pipes (one thread per extra job). An interrupt kills every
    worker server of ``jobs`` and propagates. Never raises for a worker's sake.
    """
    answers: list[Answer] = [None] * len(jobs)

    def work(i: int) -> None:
        workers, request = jobs[i]
        try:
            answers[i] = workers.run(request)
        except Exception as e:  # a failure of the parent's side of the pipe, not the method's
            answers[i] = WorkerFailed(f"worker failed: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(1, len(jobs))]
    for t in threads:
        t.start()
    try:
        if jobs:
            work(0)
        for t in threads:
            t.join()
    except BaseException:
        for workers, _ in jobs:
            workers.close(kill=True)
        for t in threads:
            t.join(timeout=10)
        raise
    return [a if a is not None else WorkerFailed("worker gave no answer") for a in answers]


class SecondCpu:
    """Is the second CPU of a duet free? Judged from the workers' own load readings.

    A worker's ``host_load`` is the CPUs every other process used while it sampled. In a duet
    that includes its partner (``threads`` CPUs while both run), so the side that finished first
    read ``partner + others``: others = the larger reading less ``threads``. One after the other,
    a reading is the others' load itself. The second CPU counts as free while the median of the
    last ``window`` estimates is below ``limit``; until the first reading, it is.
    """

    def __init__(self, threads: int, limit: float = MAX_HOST_LOAD, window: int = 3) -> None:
        self.threads, self.limit, self.window = threads, limit, window
        self.others: list[float] = []

    @property
    def free(self) -> bool:
        recent = self.others[-self.window :]
        return not recent or float(np.median(recent)) < self.limit

    def saw(self, answers: Sequence[Answer], together: bool) -> None:
        """Note the load readings of one paired call's timing answers (others are ignored)."""
        loads = [
            a.host_load for a in answers if isinstance(a, TimeAnswer) and np.isfinite(a.host_load)
        ]
        if loads:
            partner = self.threads if together and len(loads) > 1 else 0
            self.others.append(max(0.0, max(loads) - partner))


@dataclass
class _Pair:
    """One cell on both sides: a side's cell is ``None`` when that side has no row for it."""

    item: WorkItem
    base: Cell | None
    head: Cell | None

    def alive(self) -> list[tuple[str, Cell]]:
        """The sides still being timed (checked, not finished early)."""
        return [
            (name, cell)
            for name, cell in (("base", self.base), ("head", self.head))
            if cell is not None and cell.row is None
        ]


class _Paired:
    """One paired measurement of a sweep; :meth:`run` does it."""

    def __init__(
        self,
        sweep: Sweep,
        base: Side,
        head: Side,
        rounds: int,
        rng: random.Random,
        show: Callable[[Case, str], None],
        advance: Callable[[], None],
        more_rounds: int = 0,
        factor: float = PAIRED_FACTOR,
        basis: TimeBasis = TimeBasis.cpu,
    ) -> None:
        self.sweep, self.rounds, self.rng = sweep, rounds, rng
        self.more_rounds, self.factor, self.basis = more_rounds, factor, basis
        self.sides = {"base": base, "head": head}
        self.duet = len(base.slots) > 1 and len(head.slots) > 1
        self.second_cpu = SecondCpu(sweep.threads)
        self.together = self.one_by_one = 0
        self.show, self.advance = show, advance
        self.budget = Budget(sweep.time_budget_s)
        self.early: dict[int, Row] = {}  # index in the sweep -> the row both sides share
        self.pairs: dict[int, _Pair] = {}
        self.unavailable: dict[str, str] = {}
        self.checked_base = 0
        self.judged_base = False
        self.stale: set[int] = set()  # id() of the slots whose server is from an earlier round

    # -- running requests

    def _new_servers(self) -> None:
        """Every slot of both sides forks from a new server from now on (started when a slot is
        next used, see :meth:`_fresh`).

        Children inherit their server's address-space layout, which alone moves a method's
        time by several percent for all of them alike (:meth:`Workers.restart`): with one
        server per side for the whole gate, that is a bias between the sides that no number of
        rounds removes (seen here in same-code gates: whole groups of cells x1.05-x1.08 over
        48 rounds). A new pair of servers every round makes it noise that the interval covers.
        """
        self.stale = {id(w) for side in self.sides.values() for w in side.slots}

    def _fresh(self, slots: list[Workers]) -> None:
        """Restart the stale ones of ``slots`` together and wait until they are ready, before
        any of them times anything (an importing server would disturb a measurement). A duet
        refreshes all of them; rounds run one side after the other use one slot a side, and
        the other servers are not started."""
        stale = [w for w in slots if id(w) in self.stale]
        for workers in stale:
            workers.restart()
            self.stale.discard(id(workers))
        if stale:
            run_together([(w, Ping()) for w in stale])

    def _together(self, jobs: list[tuple[str, Request]]) -> dict[str, Answer]:
        """Run one request per side: at once in a duet while the second CPU is free (CPUs
        drawn), else in a random order on the first slot."""
        timing = any(isinstance(req, TimeRequest) for _, req in jobs)
        if self.duet and len(jobs) == 2 and self.second_cpu.free:
            first = self.rng.random() < 0.5
            slots = (0, 1) if first else (1, 0)
            self._fresh([w for side in self.sides.values() for w in side.slots])
            answers = run_together(
                [
                    (self.sides[name].slots[s], req)
                    for (name, req), s in zip(jobs, slots, strict=True)
                ]
            )
            self.together += timing
            self.second_cpu.saw(answers, together=True)
            return {name: a for (name, _), a in zip(jobs, answers, strict=True)}
        order = list(jobs)
        self.rng.shuffle(order)
        self._fresh([self.sides[name].slots[0] for name, _ in order])
        answered = {name: self.sides[name].slots[0].run(req) for name, req in order}
        self.one_by_one += timing and len(jobs) == 2
        self.second_cpu.saw(list(answered.values()), together=False)
        return answered

    # -- the steps of a cell

    def _start(self, group: list[WorkItem], first: int) -> None:
        """Pre-checks and the reference check of one (case, allocator) group, both sides."""
        case = group[0].case
        check = None
        for offset, item in enumerate(group):
            early, estimate = precheck(self.sweep, item, self.budget)
            if early is not None:
                self.early[first + offset] = early
                continue
            check = check or reference_check(case, *case_inputs(case, self.sweep.seed))
            pair = _Pair(item, Cell(item, estimate, offset), Cell(item, estimate, offset))
            self.pairs[first + offset] = pair
            self.show(case, f"{item.entry.name} (check)")
            request = CheckRequest(
                target_of(self.sweep, item), check, budget_s=self.sweep.time_budget_s
            )
            answers = self._together([("base", request), ("head", request)])
            self._checked(pair, answers["base"], answers["head"])
        if self.checked_base and not self.judged_base:
            self.judged_base = True
            self._base_runs_anything()

    def _checked(self, pair: _Pair, base: Answer, head: Answer) -> None:
        name = pair.item.entry.name
        self.checked_base += 1
        if isinstance(base, WorkerFailed):
            self.unavailable.setdefault(name, base.reason)
            pair.base = None  # the base cannot run it: the cell is new
        else:
            _apply_check(pair.base, base)
        if isinstance(head, WorkerFailed):
            pair.head.finish("error", head.reason)  # type: ignore[union-attr]
        else:
            _apply_check(pair.head, head)

    def _base_runs_anything(self) -> None:
        """Stop early when the base could run none of the methods checked so far."""
        if all(p.base is None for p in self.pairs.values()):
            first = next(iter(self.unavailable.values()), "no method could be checked")
            raise BaseUnavailable(first)

    def _time(self, pair: _Pair, round_no: int) -> None:
        t, rounds = self.sweep.timing, self.rounds
        samples = max(ROUND_SAMPLES, per_process(t.repeats, rounds))
        request = TimeRequest(
            target_of(self.sweep, pair.item),
            allocator=pair.item.allocator,
            warmup=t.warmup,
            min_sample_s=t.min_sample_s,
            repeats=samples,
            min_repeats=min(samples, per_process(t.min_repeats, rounds)),
            budget_s=self.sweep.time_budget_s / rounds,
        )
        jobs = [(name, request) for name, _ in pair.alive()]
        if not jobs:
            return
        total = rounds + (self.more_rounds if round_no >= rounds else 0)
        self.show(pair.item.case, f"{pair.item.entry.name} (round {round_no + 1}/{total})")
        answers = self._together(jobs)
        for name, cell in pair.alive():
            answer = answers[name]
            if isinstance(answer, WorkerFailed):
                cell.finish(
                    "error", f"while timing (round {round_no + 1} of {rounds}): {answer.reason}"
                )
            else:
                cell.answers.append(answer)

    def _moved(self, pair: _Pair) -> bool:
        """Is the median per-round ratio of a cell timed on both sides beyond the factor?"""
        if pair.base is None or pair.head is None:
            return False
        if pair.base.row is not None or pair.head.row is not None:
            return False
        pick = (lambda t: t.cpu_s) if self.basis == TimeBasis.cpu else (lambda t: t.wall_s)
        b = [float(np.median(pick(a.timing))) for a in pair.base.answers]
        h = [float(np.median(pick(a.timing))) for a in pair.head.answers]
        # the verdict's own median ratio (same pairing, same dropped rounds); nan: no rounds
        ratio = judge_paired(b, h, self.factor, CONFIDENCE).ratio
        return abs(math.log(ratio)) > math.log(self.factor) if ratio > 0 else False

    def _note_budget(self, pair: _Pair) -> None:
        """After round 1, as the runner does: a side whose calls alone (``repeats`` x its first
        worker's median) would overrun the budget is over budget, and then larger cells of the
        facet are skipped on both sides."""
        repeats, budget_s = self.sweep.timing.repeats, self.sweep.time_budget_s
        over = False
        for _, cell in pair.alive():
            if cell.answers:
                cell.over_budget = cell.answers[0].timing.median_s * repeats > budget_s
                over = over or cell.over_budget
        if over:
            self.budget.note(pair.item.entry.name, pair.item.case)

    def _memory(self, pairs: list[_Pair]) -> dict[str, dict[tuple, MemoryResult]]:
        caches: dict[str, dict[tuple, MemoryResult]] = {"base": {}, "head": {}}
        if not self.sweep.memory_pass:
            return caches
        for pair in pairs:
            key = (pair.item.case, pair.item.entry.name)
            jobs = []
            for name, cell in pair.alive():
                if key in caches[name]:
                    continue
                call_s = float(np.median([a.timing.median_s for a in cell.answers]))
                jobs.append((name, MemoryRequest(target_of(self.sweep, pair.item), call_s=call_s)))
            if not jobs:
                continue
            self.show(pair.item.case, f"{pair.item.entry.name} (memory)")
            for name, answer in self._together(jobs).items():
                if isinstance(answer, WorkerFailed):
                    answer = MemoryResult(note=f"memory pass: {answer.reason}")
                caches[name][key] = answer
        return caches

    # -- the whole sweep

    def run(self) -> PairedRun:
        items = work_items(self.sweep)
        groups, starts = [], []
        for group in case_groups(items):
            starts.append(sum(len(g) for g in groups))
            groups.append(group)
        for round_no in range(self.rounds):
            if round_no > 0:
                self._new_servers()
            for g, group in enumerate(groups):
                first = starts[g]
                if round_no == 0:
                    self._start(group, first)
                pairs = [self.pairs[i] for i in range(first, first + len(group)) if i in self.pairs]
                self.rng.shuffle(pairs)
                for pair in pairs:
                    self._time(pair, round_no)
                    if round_no == 0:
                        self._note_budget(pair)
                for _ in group:
                    self.advance()
        extended = [
            i for i in sorted(self.pairs) if self.more_rounds and self._moved(self.pairs[i])
        ]
        for round_no in range(self.rounds, self.rounds + self.more_rounds if extended else 0):
            self._new_servers()
            order = list(extended)
            self.rng.shuffle(order)
            for i in order:
                self._time(self.pairs[i], round_no)
        ordered = [self.pairs[i] for i in sorted(self.pairs)]
        caches = self._memory(ordered)
        base_rows, head_rows = [], []
        for i in range(len(items)):
            if i in self.early:
                row = self.early[i].replace(finished_at=utc_now())
                base_rows.append(row)
                head_rows.append(row)
                continue
            pair = self.pairs[i]
            for name, cell, rows in (
                ("base", pair.base, base_rows),
                ("head", pair.head, head_rows),
            ):
                if cell is None:
                    continue
                if cell.row is None:
                    slot = self.sides[name].slots[0]
                    cell.row = timed_row(self.sweep, cell, slot, caches[name], self.show)
                rows.append(cell.row.replace(finished_at=utc_now()))
        return PairedRun(
            base_rows,
            head_rows,
            self.rounds,
            self.duet,
            dict(self.unavailable),
            self.together,
            self.one_by_one,
            [
                f"{self.pairs[i].item.entry.name} @ {self.pairs[i].item.case.label()}"
                for i in extended
            ],
        )


def _apply_check(cell: Cell | None, answer: Answer) -> None:
    if cell is None:
        return
    if isinstance(answer, CheckFailed):
        cell.finish(answer.status, answer.reason, max_abs_err=answer.max_abs_err)
    else:
        cell.max_abs_err = answer.max_abs_err


def measure_paired(
    sweep: Sweep,
    base: Side,
    head: Side,
    *,
    rounds: int,
    more_rounds: int = 0,
    factor: float = PAIRED_FACTOR,
    basis: TimeBasis = TimeBasis.cpu,
    rng: random.Random | None = None,
    show: Callable[[Case, str], None] = lambda case, what: None,
    advance: Callable[[], None] = lambda: None,
) -> PairedRun:
    """Measure every cell of ``sweep`` on both sides in ``rounds`` paired rounds.

    Parameters
    ----------
    sweep
        The config (the head's); both sides measure exactly its cells.
    base, head
        Each side's workers: two slots each for a duet (:func:`duet_cpus`), else one.
    rounds
        Rounds of timing; each side takes ``max(ROUND_SAMPLES, repeats / rounds)`` samples a
        round, after calibration and ``warmup``.
    more_rounds, factor, basis
        A cell whose median per-round ratio (on the ``basis`` clock) after ``rounds`` lies
        beyond ``factor`` or below ``1 / factor`` gets ``more_rounds`` more (0: none).
    rng
        Draws the order of the sides (and of the CPUs) in each round and of the methods of a
        case; seeded by the caller for reproducible tests.
    show, advance
        Progress callbacks: what is being measured; one (cell, round) done.

    Returns
    -------
    PairedRun
        Rows of both sides. A method the base cannot run has no base row (``unavailable``).

    Raises
    ------
    BaseUnavailable
        The base could run none of the first case's methods (nothing to compare).
    KeyboardInterrupt
        Interrupted: nothing is returned (the workers are stopped).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if more_rounds < 0:
        raise ValueError(f"more_rounds must be >= 0, got {more_rounds}")
    paired = _Paired(
        sweep,
        base,
        head,
        rounds,
        rng or random.Random(),
        show,
        advance,
        more_rounds,
        factor,
        basis,
    )
    return paired.run()


__all__ = [
    "BaseUnavailable",
    "PairedRun",
    "SecondCpu",
    "Side",
    "duet_cpus",
    "measure_paired",
    "run_together",
]

"""Calibrated wall and CPU timing of one call, keeping every raw sample.

Follows timeit/pyperf practice: calibrate the loop count so one sample lasts at least
``min_sample_s`` (the timer's resolution and per-sample overhead then do not matter), warm up,
then take samples with the garbage collector disabled. Wall time is ``perf_counter``; CPU time is
``process_time`` (all threads of this process), which is the robust figure on a shared machine
when BLAS/FFT pools are pinned to one thread.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

#: Never calibrate beyond this many calls per sample (a no-op would otherwise loop forever).
MAX_LOOPS = 1_000_000
#: A first call slower than ``min_sample_s`` but faster than this is timed once more before it
#: decides on one call per sample: it may carry one-time set-up (``auto`` loading its decision
#: table, a workspace's first pages, a plan cache), and a 15 us call timed alone reads ~23 us.
RECHECK_FIRST_CALL_S = 1.0


@dataclass(frozen=True)
class Timing:
    """Samples of one call: ``wall_s[i]`` and ``cpu_s[i]`` are seconds per call in sample i."""

    loops: int
    wall_s: tuple[float, ...]
    cpu_s: tuple[float, ...]
    cut_by_budget: bool = False
    elapsed_s: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def repeats(self) -> int:
        return len(self.wall_s)

    @property
    def min_s(self) -> float:
        return min(self.wall_s)

    @property
    def median_s(self) -> float:
        return float(np.median(self.wall_s))

    @property
    def iqr_s(self) -> float:
        q1, q3 = np.percentile(self.wall_s, [25, 75])
        return float(q3 - q1)

    @property
    def cpu_min_s(self) -> float:
        return min(self.cpu_s)

    @property
    def cpu_median_s(self) -> float:
        return float(np.median(self.cpu_s))

    @property
    def wall_cpu_ratio(self) -> float:
        cpu = self.cpu_median_s
        return self.median_s / cpu if cpu > 0 else math.nan

    def unstable(self) -> str | None:
        """pyperf's warning: a spread of 10% of the median or more means the figure is shaky."""
        if self.repeats >= 4 and self.iqr_s >= 0.10 * self.median_s:
            return f"unstable: IQR is {100 * self.iqr_s / self.median_s:.0f}% of the median"
        return None


def _sample(call: Callable[[], object], loops: int) -> tuple[float, float]:
    """Seconds per call (wall, CPU) over ``loops`` back-to-back calls."""
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(loops):
        call()
    t1 = time.perf_counter()
    c1 = time.process_time()
    return (t1 - t0) / loops, (c1 - c0) / loops


def calibrate(call: Callable[[], object], min_sample_s: float) -> int:
    """Loops per sample so that one sample lasts at least ``min_sample_s``.

    One fresh call gives the first guess (not an earlier call such as the verification: it may
    include one-time set-up like torch's first-call initialisation), which is then checked and
    raised until a sample really lasts long enough. A first call over ``min_sample_s`` (but
    under :data:`RECHECK_FIRST_CALL_S`) is timed once more, and the faster of the two decides.
    """
    single, _ = _sample(call, 1)
    if min_sample_s <= single < RECHECK_FIRST_CALL_S:
        single = min(single, _sample(call, 1)[0])
    if single >= min_sample_s:
        return 1
    loops = min(MAX_LOOPS, math.ceil(min_sample_s / max(single, 1e-9)))
    while loops < MAX_LOOPS:
        wall, _ = _sample(call, loops)
        if wall * loops >= min_sample_s:
            break
        loops = min(MAX_LOOPS, max(loops * 2, math.ceil(1.2 * min_sample_s / max(wall, 1e-9))))
    return loops


def time_call(
    call: Callable[[], object],
    *,
    warmup: int = 1,
    min_sample_s: float = 0.02,
    repeats: int = 25,
    min_repeats: int = 3,
    budget_s: float = math.inf,
) -> Timing:
    """Time ``call()``: calibrate, warm up, then up to ``repeats`` samples.

    When one call outlasts ``min_sample_s`` (one call per sample), sampling stops early, after
    at least ``min_repeats`` samples, once ``budget_s`` seconds have been spent
    (``cut_by_budget`` is then set), so one cell of a slow method never runs unbounded.

    Cost: about ``max(budget_s, (warmup + repeats) * max(min_sample_s, one call))`` seconds.
    """
    start = time.perf_counter()
    loops = calibrate(call, min_sample_s)
    gc_was_enabled = gc.isenabled()
    gc.collect(0)  # a full collection can take 0.3 s once torch is imported; see gc.freeze
    gc.disable()
    walls: list[float] = []
    cpus: list[float] = []
    cut = False
    try:
        for _ in range(warmup):
            _sample(call, loops)
        for i in range(repeats):
            wall, cpu = _sample(call, loops)
            walls.append(wall)
            cpus.append(cpu)
            # only single-call samples can run long: calibrated ones last ~min_sample_s each
            if (
                loops == 1
                and min_repeats <= i + 1 < repeats
                and time.perf_counter() - start > budget_s
            ):
                cut = True
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    notes = (f"time budget: stopped at {len(walls)} of {repeats} samples",) if cut else ()
    return Timing(loops, tuple(walls), tuple(cpus), cut, time.perf_counter() - start, notes)

"""The verdict vocabulary and every default of ``compare`` and ``gate``, in one place.

The CLI, :mod:`convbench.gate`, :mod:`convbench.gate_ref` and the benchmarks read their defaults
from here; nothing else writes a threshold down.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

# --------------------------------------------------------------------------- defaults

#: A change beyond this time ratio counts (stored baseline: medians and minimums both beyond).
FACTOR = 1.10
#: With base and head measured paired (``gate --base``) the whole confidence interval of the
#: per-round ratios must lie beyond this: a lower factor, since the interval carries the noise.
PAIRED_FACTOR = 1.05
#: Confidence of the paired interval (distribution-free, over rounds: see
#: :func:`convbench.stats.median_interval`).
CONFIDENCE = 0.95
#: Rounds of the paired gate: each a fresh base and a fresh head worker per cell. With 16 rounds
#: the 95 % interval runs from the 4th smallest to the 4th largest per-round ratio (3 wild rounds
#: on either side cannot move it); configs/ci.yaml then takes ~1.7 min on 2 CPUs (README).
ROUNDS = 16
#: More rounds for a cell whose median ratio after ``ROUNDS`` lies beyond the factor: fresh
#: processes of the same code differ here by a few % to 15 % (per-round ratios with a MAD of
#: 7-10 %), too much for 16 rounds to tell x1.10 from x1.05; the few cells that moved get 3x
#: the rounds, an unchanged cell none (README, *gate --base*).
MORE_ROUNDS = 32
#: Samples each side takes per round at least (the config's ``repeats`` are spread over rounds).
ROUND_SAMPLES = 3
#: Peak memory regresses beyond this ratio AND by more than ``MEMORY_MIN_BYTES``. RSS counters
#: move in per-CPU batches of up to 64 pages (256 KiB a CPU): smaller changes are noise (seen
#: here: 256 KiB -> 408 KiB between two runs of the same code).
MEMORY_FACTOR = 1.05
MEMORY_MIN_BYTES = 1024 * 1024
#: Significance level of ``--stat mannwhitney`` (asv's).
ALPHA = 0.002
#: Fewer samples on either side of a stored comparison is inconclusive.
MIN_SAMPLES = 5
#: IQR / median above this on either side of a stored comparison is inconclusive.
MAX_SPREAD = 0.25
#: A wall/CPU ratio this far above its run's usual one means the cell was disturbed.
MAX_WALL_CPU = 1.5
#: A stored comparison's cell must move beyond its processes' spread to this power (0: off);
#: chosen with the stored-baseline gate's quality runs (README).
NOISE_POWER = 1.5
#: Other processes using more cores than this while a cell was timed make it disturbed.
MAX_HOST_LOAD = 0.5
#: A cell shares this power of its fixed probe's slow-down between two runs (0: the probe is
#: ignored). Over 1008 cells of 21 pairs of same-code runs here, the log of a cell's time ratio
#: followed the log of its probe's ratio with a slope of 0.16-0.22 (correlation ~0.2), and the
#: probe moved x1.11 in the median where the cells moved x1.02: taken at face value (power 1)
#: it excused 30 % of the cells slowed x1.25 (README, *How good is one run against another?*).
PROBE_POWER = 0.25
#: Stored-baseline gate: re-measure flagged cells up to this many times ...
CONFIRM_ROUNDS = 2
#: ... fail when this many consecutive clean readings (first pass included) say regressed ...
READINGS = 3
#: ... pausing this long before each re-measurement: same-code gates that failed because one
#: slow period covered three back-to-back readings of a memory-bound cell passed with readings
#: ~36 s apart.
CONFIRM_WAIT_S = 30.0


# --------------------------------------------------------------------------- vocabulary


class Stat(str, Enum):
    """How two sample sets of a stored comparison are judged (:func:`stats.judge_times`)."""

    min_median = "min-median"  # ratio of medians AND ratio of minimums beyond the factor
    median = "median"  # ratio of medians beyond the factor
    mannwhitney = "mannwhitney"  # asv-style: ratio of medians beyond the factor AND p < alpha


class TimeBasis(str, Enum):
    """Which clock's samples are compared."""

    cpu = "cpu"  # process_time: robust to a neighbour on a 1-thread method
    wall = "wall"  # perf_counter: what a user waits for, doubles under contention


class Verdict(str, Enum):
    """Verdict of one (case, method) cell. Listed in report order: worst first."""

    broken = "broken"  # was ok, now wrong/error: always a failure
    regressed = "regressed"
    inconclusive = "inconclusive"  # too few samples or rounds, too noisy, or disturbed
    status_changed = "status-changed"  # e.g. ok -> skipped, skipped -> ok: reported, not failed
    missing = "missing"  # in the baseline, not in the current run
    new = "new"  # in the current run, not in the baseline
    improved = "improved"
    unchanged = "unchanged"
    not_timed = "not-timed"  # same non-ok status on both sides (e.g. skipped twice)


VERDICT_ORDER = {v.value: i for i, v in enumerate(Verdict)}
FAILING = frozenset({Verdict.broken.value, Verdict.regressed.value})


@dataclass(frozen=True)
class Thresholds:
    """Every knob of the verdict rule, with the defaults above.

    Attributes
    ----------
    factor
        A time ratio beyond ``factor`` (or below ``1/factor``) is a change.
    stat
        Which statistic of a stored comparison must exceed ``factor`` (:class:`Stat`).
    time
        Which clock to compare (:class:`TimeBasis`).
    alpha
        Significance level of the Mann-Whitney test (``stat="mannwhitney"`` only; asv uses 0.002,
        which needs >= 6 samples per side to be reachable at all).
    min_samples
        Fewer samples than this on either side is inconclusive.
    max_spread
        IQR / median above this on either side is inconclusive (too noisy).
    max_wall_cpu
        A median wall/CPU ratio above this means the process was disturbed.
    noise_power
        A cell whose worker processes disagree (``process_spread`` of either side, or the
        spread of a baseline of several runs) must also move by more than
        ``spread ** noise_power``: a cell that wanders by 40 % between processes of the *same*
        code cannot show a 10 % regression. 0 turns this off (:func:`stats.needed_ratio`).
    max_host_load
        Other processes using more than this many cores while either side was timed (the row's
        ``host_load``) make a regression inconclusive.
    probe_power
        When the current side's fixed probe workload (``probe_s``) ran slower than the
        baseline's, that slow-down explains part of a regression: it must exceed ``needed``
        times the probe's ratio to this power, else it is inconclusive; an improvement
        likewise. 0 turns this off.
    memory_factor, memory_min_bytes
        Peak memory regresses when it grows by more than ``memory_factor`` AND by more than
        ``memory_min_bytes`` (small buffers jitter by allocator rounding and RSS batching).
    confidence
        Paired comparisons (``gate --base``): confidence of the interval of the per-round
        ratios, which must lie entirely beyond ``factor`` for a change.
    """

    factor: float = FACTOR
    stat: Stat = Stat.min_median
    time: TimeBasis = TimeBasis.cpu
    alpha: float = ALPHA
    min_samples: int = MIN_SAMPLES
    max_spread: float = MAX_SPREAD
    max_wall_cpu: float = MAX_WALL_CPU
    noise_power: float = NOISE_POWER
    max_host_load: float = MAX_HOST_LOAD
    probe_power: float = PROBE_POWER
    memory_factor: float = MEMORY_FACTOR
    memory_min_bytes: int = MEMORY_MIN_BYTES
    confidence: float = CONFIDENCE

    def __post_init__(self) -> None:
        if not self.factor > 1:
            raise ValueError(f"factor must be > 1, got {self.factor}")
        if not self.memory_factor > 1:
            raise ValueError(f"memory_factor must be > 1, got {self.memory_factor}")
        if not self.noise_power >= 0:
            raise ValueError(f"noise_power must be >= 0, got {self.noise_power}")
        if not self.probe_power >= 0:
            raise ValueError(f"probe_power must be >= 0, got {self.probe_power}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if not 0.5 <= self.confidence < 1:
            raise ValueError(f"confidence must be in [0.5, 1), got {self.confidence}")
        object.__setattr__(self, "stat", Stat(self.stat))
        object.__setattr__(self, "time", TimeBasis(self.time))

    @classmethod
    def for_mode(cls, *, paired: bool, **given: Any) -> Thresholds:
        """The rule with ``given`` options; those left ``None`` take the mode's default.

        ``paired`` (base and head measured side by side) changes only the default ``factor``.
        Raises ``ValueError`` for a bad value or an unknown option.
        """
        known = {f.name for f in fields(cls)}
        unknown = set(given) - known
        if unknown:
            raise ValueError(f"unknown option(s): {', '.join(sorted(unknown))}")
        chosen = {k: v for k, v in given.items() if v is not None}
        chosen.setdefault("factor", PAIRED_FACTOR if paired else FACTOR)
        return cls(**chosen)


#: The stored rule with every default (what ``compare`` uses when given no option).
DEFAULT_THRESHOLDS = Thresholds()

"""Timing calibration and samples; the memory worker's peak figures, timeout and failures."""

from __future__ import annotations

import platform
import subprocess
import sys
import time

import numpy as np
import pytest

from convbench.cases import Case
from convbench.measure import timing
from convbench.measure.inputs import case_inputs
from convbench.measure.memory import MemoryWorker, hwm_resettable
from convbench.measure.timing import Timing, calibrate, time_call

CASE = Case((64, 64), (5, 5), depth=2, stride=(2, 2))


class FakeClock:
    """A clock that only moves when the timed call runs: each call costs exactly ``cost_s``."""

    def __init__(self, cost_s: float) -> None:
        self.now, self.cost_s = 0.0, cost_s

    def __call__(self) -> float:
        return self.now

    def call(self) -> None:
        self.now += self.cost_s


def test_calibrate_makes_one_sample_last_min_sample_s(monkeypatch):
    clock = FakeClock(0.001)
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    monkeypatch.setattr(timing.time, "process_time", clock)
    assert calibrate(clock.call, min_sample_s=0.005) == 5
    assert calibrate(clock.call, min_sample_s=0.0005) == 1


def test_calibrate_times_a_fresh_call_not_a_slow_first_one(monkeypatch):
    clock = FakeClock(0.05)
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    clock.call()  # a first call with one-time set-up: 50 ms
    clock.cost_s = 0.001  # steady calls: 1 ms
    assert calibrate(clock.call, min_sample_s=0.005) == 5


def test_time_call_keeps_every_raw_sample_and_cpu_time():
    t = time_call(lambda: time.sleep(0.002), min_sample_s=0.001, repeats=4, warmup=1)
    assert t.repeats == 4 and len(t.cpu_s) == 4 and t.loops == 1
    assert all(w >= 0.002 for w in t.wall_s)
    # Sleeping costs wall time but almost no CPU: the two clocks are really different clocks.
    # process_time counts every thread, and idle BLAS/torch threads left spinning by earlier
    # tests can bill a few ms to some samples, so look at the quietest sample.
    assert min(t.cpu_s) < 0.5 * t.median_s
    assert t.min_s <= t.median_s and t.iqr_s >= 0


def test_time_call_stops_at_min_repeats_when_over_budget():
    t = time_call(
        lambda: time.sleep(0.01), min_sample_s=0.001, repeats=50, min_repeats=3, budget_s=0.02
    )
    assert t.cut_by_budget and t.repeats == 3
    assert "3 of 50" in t.notes[0]


def test_unstable_flags_a_wide_spread():
    steady = Timing(1, (1.0, 1.0, 1.01, 1.0), (1.0,) * 4)
    shaky = Timing(1, (1.0, 2.0, 1.0, 2.0), (1.0,) * 4)
    assert steady.unstable() is None
    assert "IQR" in shaky.unstable()


def test_case_inputs_depend_only_on_case_and_seed():
    x1, k1 = case_inputs(CASE, 3)
    x2, k2 = case_inputs(CASE, 3)
    x3, _ = case_inputs(CASE, 4)
    assert x1.shape == (64, 64, 2) and k1.shape == (5, 5, 2)
    assert np.array_equal(x1, x2) and np.array_equal(k1, k2)
    assert not np.array_equal(x1, x3)


@pytest.fixture(scope="module")
def worker():
    with MemoryWorker(threads=1, seed=0) as w:
        yield w


def test_memory_pass_sees_a_big_temporary_and_not_a_small_method(worker):
    big = worker.measure(CASE, "cbtest_methods:big_temporary", call_s=0.001)
    small = worker.measure(CASE, "cbtest_methods:good", call_s=0.001)
    if hwm_resettable():
        assert big.source == "VmHWM"
        assert 60 * 2**20 <= big.peak_bytes <= 100 * 2**20
        assert small.peak_bytes < 2**20
    assert 64 * 2**20 <= big.tracemalloc_bytes <= 70 * 2**20
    assert small.tracemalloc_bytes < 2**20
    # the same call again reads the same: freed blocks went back to the kernel (mmap threshold)
    again = worker.measure(CASE, "cbtest_methods:big_temporary", call_s=0.001)
    assert again.peak_bytes == pytest.approx(big.peak_bytes, rel=0.05)


def test_memory_pass_reports_a_failing_method_and_lives_on(worker):
    failed = worker.measure(CASE, "cbtest_methods:raises", call_s=0.001)
    assert failed.peak_bytes is None and "RuntimeError" in failed.note
    assert worker.measure(CASE, "cbtest_methods:good", call_s=0.001).tracemalloc_bytes > 0


def test_memory_pass_times_out_instead_of_hanging():
    with MemoryWorker() as w:
        slow = w.measure(CASE, "cbtest_methods:slow", call_s=10.0, timeout_s=0.01)
        assert slow.peak_bytes is None and "timed out" in slow.note
        # the next request starts a fresh worker
        assert w.measure(CASE, "cbtest_methods:good", call_s=0.001).tracemalloc_bytes > 0


# --------------------------------------------------------------------------- allocator

_FAULTS_PER_CALL = """
import resource, sys
import numpy as np
from convbench.measure.allocator import steady_allocator
if sys.argv[1] == "steady":
    print(steady_allocator(), file=sys.stderr)
# 12 MB of temporaries per call, freed at the end: glibc's adaptive thresholds give them back to
# the kernel after every call when nothing bigger ran in this process before.
x = np.ones((200, 200, 10))
def call():
    a = np.fft.rfft2(x, s=(256, 256), axes=(0, 1))
    return (a * a).sum()
call(); call()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    call()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_steady_allocator_keeps_temporaries_between_calls():
    def faults(mode: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", _FAULTS_PER_CALL, mode],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return float(out.stdout.strip())

    # In a fresh process the same call page-faults on every repeat by default (history-
    # dependent); with the steady allocator, its temporaries are recycled after the warm-up.
    assert faults("default") > 1000
    assert faults("steady") < 50


def test_steady_allocator_does_nothing_off_glibc(monkeypatch):
    from convbench.measure import allocator

    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    assert allocator.steady_allocator() == "unchanged (not glibc)"

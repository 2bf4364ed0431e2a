"""Timing calibration and samples; worker processes: memory figures, checks, death, timeouts."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

from convbench.cases import Case
from convbench.measure import timing
from convbench.measure.inputs import case_inputs
from convbench.measure.memory import hwm_resettable, peak_of_call
from convbench.measure.timing import Timing, calibrate, time_call
from convbench.measure.worker import (
    ONE_SERVER_ENV,
    Check,
    Checked,
    CheckFailed,
    CheckRequest,
    MemoryRequest,
    Target,
    TimeRequest,
    WorkerFailed,
    Workers,
    probe,
)
from convbench.verify import reference

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


def test_calibrate_does_not_take_one_time_set_up_in_its_own_first_call_for_the_call(monkeypatch):
    # auto's first call in a fresh worker loads its decision table (ms); its calls take 15 us.
    # Timing them one per sample (loops = 1) read 23 us: timer and loop overhead per call.
    clock = FakeClock(0.05)
    monkeypatch.setattr(timing.time, "perf_counter", clock)

    def call():
        clock.call()
        clock.cost_s = 0.001

    assert calibrate(call, min_sample_s=0.005) == 5
    slow = FakeClock(0.05)  # every call really is slow: one per sample
    monkeypatch.setattr(timing.time, "perf_counter", slow)
    assert calibrate(slow.call, min_sample_s=0.005) == 1
    assert slow.now == pytest.approx(0.1)  # two calls to decide, no more


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
def workers():
    with Workers() as w:
        yield w


def _memory(workers, spec, call_s=0.001, case=CASE):
    return workers.run(MemoryRequest(Target(case, spec), call_s=call_s))


def test_memory_pass_sees_a_big_temporary_and_not_a_small_method(workers):
    big = _memory(workers, "cbtest_methods:big_temporary")
    small = _memory(workers, "cbtest_methods:good")
    if hwm_resettable():
        assert 60 * 2**20 <= big.rss_bytes <= 100 * 2**20
        assert 60 * 2**20 <= big.peak_bytes <= 100 * 2**20
        assert small.peak_bytes < 2**20
    assert 64 * 2**20 <= big.tracemalloc_bytes <= 70 * 2**20
    assert small.tracemalloc_bytes < 2**20
    # the same call again, in another fresh worker, reads the same
    again = _memory(workers, "cbtest_methods:big_temporary")
    assert again.peak_bytes == pytest.approx(big.peak_bytes, rel=0.05)


def test_peak_is_never_below_what_tracemalloc_saw(workers):
    # Small blocks come from heap pages that may already be resident: RSS can miss them.
    r = _memory(workers, "cbtest_methods:small_blocks")
    assert r.tracemalloc_bytes >= 64 * 8 * 1024
    assert r.peak_bytes >= r.tracemalloc_bytes > 0
    assert r.peak_bytes == max(r.tracemalloc_bytes, r.rss_bytes or 0)


def test_peak_without_clear_refs_is_tracemalloc_and_says_so():
    x = np.ones(1000)
    r = peak_of_call(lambda: x * 2, 0.001, resettable=False)
    assert r.peak_bytes == r.tracemalloc_bytes >= 8000
    assert r.rss_bytes is None and "clear_refs unavailable" in r.note


def test_memory_pass_reports_a_failing_method(workers):
    failed = _memory(workers, "cbtest_methods:raises")
    assert isinstance(failed, WorkerFailed) and "RuntimeError" in failed.reason
    assert _memory(workers, "cbtest_methods:good").tracemalloc_bytes > 0


def test_a_worker_that_dies_is_an_answer_not_a_crash(workers):
    died = _memory(workers, "cbtest_methods:dies")
    assert isinstance(died, WorkerFailed) and "SIGKILL" in died.reason
    assert "out of memory?" in died.reason
    # the server lives on: the next request is answered
    assert _memory(workers, "cbtest_methods:good").tracemalloc_bytes > 0


def test_a_worker_that_hangs_is_killed_after_its_timeout(workers, monkeypatch):
    monkeypatch.setattr(MemoryRequest, "timeout_s", lambda self: 0.5)
    hung = _memory(workers, "cbtest_methods:hangs")
    assert isinstance(hung, WorkerFailed) and "timed out" in hung.reason
    assert _memory(workers, "cbtest_methods:good").tracemalloc_bytes > 0


def test_workers_without_fork_answer_the_same():
    with Workers(fork=False) as w:
        r = w.run(MemoryRequest(Target(CASE, "cbtest_methods:good"), call_s=0.001))
    assert r.tracemalloc_bytes > 0


def test_a_check_request_verifies_one_call_in_its_own_worker(workers):
    x, k = case_inputs(CASE, 0)
    check = Check(reference(x, k, CASE.stride, CASE.padding), 1e-9)
    ok = workers.run(CheckRequest(Target(CASE, "cbtest_methods:good"), check))
    assert isinstance(ok, Checked) and ok.max_abs_err < 1e-9
    wrong = workers.run(CheckRequest(Target(CASE, "cbtest_methods:off_by_one"), check))
    assert isinstance(wrong, CheckFailed) and wrong.status == "wrong"
    assert wrong.max_abs_err == pytest.approx(1)
    err = workers.run(CheckRequest(Target(CASE, "cbtest_methods:raises"), check))
    assert isinstance(err, CheckFailed) and err.status == "error" and "deliberately" in err.reason


def test_a_time_request_answers_samples_host_load_and_probe(workers):
    req = TimeRequest(Target(CASE, "cbtest_methods:good"), repeats=3, min_sample_s=0.001)
    answer = workers.run(req)
    assert answer.timing.repeats == 3 and answer.host_load >= 0 and answer.probe_s > 0


def test_the_probe_allocates_nothing():
    probe()  # its arrays are made once, then reused
    tracemalloc.start()
    try:
        probe()
        assert tracemalloc.get_traced_memory()[1] < 4096
    finally:
        tracemalloc.stop()


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


def test_gemm_peak_is_a_positive_rate():
    from convbench.measure.peak import gemm_peak_gflops

    assert 0 < gemm_peak_gflops(size=64, samples=2) < 1e5


def test_restart_gives_a_new_server_that_answers_ready(monkeypatch):
    monkeypatch.delenv(ONE_SERVER_ENV)
    with Workers() as w:
        assert w.ready() == "ready"
        first = w._server.pid
        w.restart()
        assert w._server.pid != first, "a new server: its children get a new layout"
        assert w.ready() == "ready"
        answer = w.run(TimeRequest(Target(CASE, "shift-add"), min_sample_s=0.001, repeats=3))
        assert answer.timing.repeats == 3, "the new server forks workers as the old one did"
    assert Workers(fork=False).ready() == "ready"
    monkeypatch.setenv(ONE_SERVER_ENV, "1")  # the tests' setting: one server, and it says so
    with Workers() as w:
        w.ready()
        first = w._server.pid
        w.restart()
        assert w._server.pid == first and "one fork server" in w.method


def test_a_sweep_with_a_torch_method_preloads_torch():
    pytest.importorskip("torch")
    from convbench.measure.worker import optional_preload, preloaded_specs
    from convbench.methods import get_method

    assert optional_preload([get_method("fft"), get_method("torch")]) == ("torch",)
    assert optional_preload([get_method("fft")]) == ()
    pairs = [("fft", get_method("fft")), ("torch", get_method("torch"))]
    assert preloaded_specs(pairs) == {"torch"}


def test_only_the_methods_that_need_a_preload_get_it():
    # Importing torch grows glibc's adaptive thresholds in every child of the server
    # (fft-polyphase x2.5 faster): the other methods must fork from a plain server.
    pytest.importorskip("torch")
    x, k = case_inputs(CASE, 0)
    check = Check(reference(x, k, CASE.stride, CASE.padding), 1e-9)
    needs = frozenset({"cbtest_methods:torch_preloaded"})
    with Workers(threads=1, preload=("torch",), preload_for=needs) as w:
        assert "preloaded for cbtest_methods:torch_preloaded only" in w.method
        w.start()
        assert w.ready() == "ready"
        plain = w.run(CheckRequest(Target(CASE, "cbtest_methods:torch_absent"), check))
        preloaded = w.run(CheckRequest(Target(CASE, "cbtest_methods:torch_preloaded"), check))
        w.restart()
        again = w.run(CheckRequest(Target(CASE, "cbtest_methods:torch_absent"), check))
    assert isinstance(plain, Checked), plain
    assert isinstance(preloaded, Checked), preloaded
    assert isinstance(again, Checked), again


def test_preloaded_torch_keeps_the_thread_count_and_is_not_imported_per_worker():
    pytest.importorskip("torch")
    x, k = case_inputs(CASE, 0)
    check = Check(reference(x, k, CASE.stride, CASE.padding), 1e-9)
    with Workers(threads=1, preload=("torch",)) as w:
        assert "torch preloaded" in w.method
        ok = w.run(CheckRequest(Target(CASE, "cbtest_methods:torch_preloaded"), check))
        assert isinstance(ok, Checked), ok
        preloaded = w.run(CheckRequest(Target(CASE, "torch"), check))
    with Workers(threads=1) as w:
        plain = w.run(CheckRequest(Target(CASE, "torch"), check))
    assert isinstance(preloaded, Checked) and isinstance(plain, Checked)
    # The first call of a plain worker imports torch (a second or more); a preloaded one does not.
    assert preloaded.first_call_s < plain.first_call_s / 2

"""The duet of ``gate --base`` runs side by side only while the second CPU is free."""

from __future__ import annotations

import random
import threading
from types import SimpleNamespace

import pytest

from convbench.measure.worker import CheckRequest, Ping, TimeAnswer, TimeRequest, WorkerFailed
from convbench.paired import SecondCpu, Side, _Paired


def answer(load: float) -> TimeAnswer:
    return TimeAnswer(timing=None, host_load=load)  # type: ignore[arg-type]


def test_second_cpu_is_free_until_a_reading_says_otherwise():
    cpu = SecondCpu(threads=1)
    assert cpu.free
    cpu.saw([answer(1.02), answer(0.7)], together=True)  # the partner alone: others ~0
    assert cpu.free and cpu.others == pytest.approx([0.02])


def test_a_busy_neighbour_takes_the_second_cpu_and_its_leaving_gives_it_back():
    cpu = SecondCpu(threads=1, window=3)
    for _ in range(2):
        cpu.saw([answer(1.9), answer(1.4)], together=True)  # partner + a neighbour's 0.9
    assert not cpu.free
    cpu.saw([answer(0.95)], together=False)  # one after the other: the reading is the others'
    assert not cpu.free
    for _ in range(2):
        cpu.saw([answer(0.03), answer(0.01)], together=False)
    assert cpu.free


def test_one_wild_reading_does_not_switch():
    cpu = SecondCpu(threads=1, window=3)
    cpu.saw([answer(1.0), answer(0.9)], together=True)
    cpu.saw([answer(2.0), answer(1.0)], together=True)  # one disturbed call
    cpu.saw([answer(1.1), answer(1.0)], together=True)
    assert cpu.free


def test_the_partner_counts_threads_cpus_and_failures_are_ignored():
    cpu = SecondCpu(threads=2)
    cpu.saw([answer(2.1), WorkerFailed("died")], together=True)  # a lone reading: no partner
    assert cpu.others == [2.1]
    cpu.saw([answer(2.2), answer(1.5)], together=True)
    assert abs(cpu.others[-1] - 0.2) < 1e-9
    cpu.saw([WorkerFailed("died"), answer(float("nan"))], together=True)
    assert len(cpu.others) == 2


class Host:
    """A fake machine: a neighbour process that can come and go."""

    def __init__(self) -> None:
        self.neighbour = 0.0
        self.running = 0
        self.lock = threading.Lock()
        self.calls: list[tuple[str, int, int]] = []  # (side, slot, workers running at once)


class FakeWorkers:
    """A worker slot that answers at once with the load a real worker would read."""

    def __init__(self, host: Host, side: str, slot: int) -> None:
        self.host, self.side, self.slot = host, side, slot
        self.restarts = 0

    def restart(self) -> None:
        self.restarts += 1

    def run(self, request):
        if isinstance(request, Ping):
            return "ready"
        with self.host.lock:
            self.host.running += 1
        barrier_wait = 0.05
        threading.Event().wait(barrier_wait)  # let a partner start, if there is one
        with self.host.lock:
            partner = self.host.running - 1
            self.host.calls.append((self.side, self.slot, self.host.running))
        threading.Event().wait(barrier_wait)
        with self.host.lock:
            self.host.running -= 1
        return answer(partner + self.host.neighbour)


def paired(host: Host) -> _Paired:
    sides = [
        Side(name, (FakeWorkers(host, name, 0), FakeWorkers(host, name, 1)))
        for name in ("base", "head")
    ]
    sweep = SimpleNamespace(threads=1, time_budget_s=10.0)
    return _Paired(sweep, *sides, 4, random.Random(0), lambda c, w: None, lambda: None)


def timing_jobs():
    request = TimeRequest(None, "default", 0, 0.01, 3, 3, 1.0)  # type: ignore[arg-type]
    return [("base", request), ("head", request)]


def test_rounds_leave_the_duet_while_a_neighbour_runs_and_come_back():
    host = Host()
    run = paired(host)
    for _ in range(3):
        run._together(timing_jobs())
    assert all(n == 2 for _, _, n in host.calls), "a quiet machine: side by side"
    assert {slot for _, slot, _ in host.calls} == {0, 1}
    assert (run.together, run.one_by_one) == (3, 0)

    host.neighbour, host.calls = 1.0, []
    for _ in range(6):
        run._together(timing_jobs())
    late = host.calls[-8:]  # once the readings say so: one at a time, both sides on slot 0
    assert all(n == 1 and slot == 0 for _, slot, n in late)
    assert {side for side, _, _ in late} == {"base", "head"}
    assert run.one_by_one >= 4

    host.neighbour, host.calls = 0.0, []
    for _ in range(6):
        run._together(timing_jobs())
    assert all(n == 2 for _, _, n in host.calls[-4:]), "the neighbour left: a duet again"


def test_checks_do_not_count_as_paired_timings():
    run = paired(Host())
    request = CheckRequest(None, None, budget_s=1.0)  # type: ignore[arg-type]
    run._together([("base", request), ("head", request)])
    assert (run.together, run.one_by_one) == (0, 0)


def test_new_servers_start_when_a_round_first_uses_a_slot():
    host = Host()
    run = paired(host)
    slots = {(side, w.slot): w for side, s in run.sides.items() for w in s.slots}
    run._together(timing_jobs())
    assert all(w.restarts == 0 for w in slots.values()), "round 1 uses the servers it has"
    run._new_servers()
    run._together(timing_jobs())
    run._together(timing_jobs())
    assert all(w.restarts == 1 for w in slots.values()), "a duet: every slot, once a round"
    host.neighbour = 1.0
    for _ in range(3):  # until the readings leave the duet
        run._together(timing_jobs())
    run._new_servers()
    run._together(timing_jobs())
    restarts = {key: w.restarts for key, w in slots.items()}
    assert restarts == {("base", 0): 2, ("head", 0): 2, ("base", 1): 1, ("head", 1): 1}

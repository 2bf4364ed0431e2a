"""The per-thread scratch buffers methods reuse, and the results they must never leak."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from convbench.cases import Case
from convbench.measure.inputs import case_inputs
from convbench.measure.memory import peak_of_call
from convbench.methods import _workspace as ws
from convbench.methods import registered

WORKSPACE_METHODS = [
    m.name for m in registered().values() if m.origin == "convbench" and m.family != "auto"
]


@pytest.fixture(autouse=True)
def fresh_workspace():
    ws.clear()
    yield
    ws.set_limit(None)
    ws.clear()


def test_same_key_gives_the_same_buffer_and_another_key_another():
    a = ws.empty("a", (3, 4), np.float64)
    assert ws.empty("a", (3, 4), np.float64) is a
    assert ws.empty("b", (3, 4), np.float64) is not a
    assert ws.empty("a", (4, 3), np.float64) is not a
    assert ws.empty("a", (3, 4), np.float32) is not a
    assert a.flags.c_contiguous and a.shape == (3, 4)


def test_zeros_are_zero_even_after_a_previous_use():
    ws.empty("z", (5,), np.int64)[:] = 7
    assert not ws.zeros("z", (5,), np.int64).any()


def test_buffers_are_bounded_and_the_least_recently_used_goes_first():
    ws.set_limit(3 * 800)
    a = ws.empty("a", (100,), np.float64)
    b = ws.empty("b", (100,), np.float64)
    ws.empty("c", (100,), np.float64)
    assert ws.empty("a", (100,), np.float64) is a  # a is now the most recently used
    ws.empty("d", (100,), np.float64)  # no room: b, the least recently used, goes
    assert ws.held_bytes() == 3 * 800
    assert ws.empty("a", (100,), np.float64) is a
    assert ws.empty("b", (100,), np.float64) is not b


def test_a_buffer_larger_than_the_limit_is_fresh_and_not_kept():
    ws.set_limit(1000)
    big = ws.empty("big", (200,), np.float64)
    assert ws.empty("big", (200,), np.float64) is not big
    assert ws.held_bytes() == 0


def test_lowering_the_limit_evicts_at_once():
    ws.empty("a", (100,), np.float64)
    ws.empty("b", (100,), np.float64)
    ws.set_limit(900)
    assert ws.held_bytes() == 800


def test_clear_drops_every_buffer():
    a = ws.empty("a", (10,), np.float64)
    ws.clear()
    assert ws.held_bytes() == 0
    assert ws.empty("a", (10,), np.float64) is not a


def test_threads_never_share_a_buffer():
    mine = ws.empty("t", (10,), np.float64)
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(ws.empty("t", (10,), np.float64)))
    thread.start()
    thread.join()
    assert theirs[0] is not mine
    assert not np.shares_memory(theirs[0], mine)


def test_padded_is_x_itself_without_padding_and_zero_bordered_with_it():
    x = np.arange(12.0).reshape(3, 4)
    assert ws.padded("p", x, (0, 0)) is x
    ws.empty("p", (5, 8), np.float64)[:] = -1  # a previous call's leftovers
    padded = ws.padded("p", x, (1, 2))
    assert np.array_equal(padded, np.pad(x, ((1, 1), (2, 2))))


CASES = (
    Case((30, 28), (5, 4), 3, (2, 2), (1, 1)),
    Case((24, 26), (7, 7), 0, (1, 1), (2, 0), "float32"),
    Case((20, 20), (3, 5), 4, (3, 2), (0, 0), "int64"),
)


@pytest.mark.parametrize("name", WORKSPACE_METHODS)
@pytest.mark.parametrize("case", CASES, ids=Case.label)
def test_a_result_is_not_changed_by_the_next_call(name, case):
    func = registered()[name].func
    x, k = case_inputs(case, 0)
    first = func(x, k, case.stride, case.padding)
    kept = first.copy()
    x2, k2 = case_inputs(case, 1)
    second = func(x2, k2, case.stride, case.padding)
    assert np.array_equal(first, kept), "the second call overwrote the first result"
    assert not np.array_equal(first, second)
    held = [b for b in ws._cache().values()]
    assert not any(np.shares_memory(second, b) for b in held)


def test_the_memory_pass_counts_a_workspace_the_warm_up_left_resident():
    case = Case((200, 200), (7, 7), 3, (2, 2))
    func = registered()["polyphase-gemm"].func
    x, k = case_inputs(case, 0)
    found = peak_of_call(lambda: func(x, k, case.stride, case.padding), 0.01, resettable=False)
    assert found.tracemalloc_bytes >= ws.held_bytes() > 0

"""Every method's ``estimate_bytes`` against what one call allocates, with relative bounds.

Measured as the runner measures it (:func:`convbench.measure.memory.peak_of_call` in a fresh
worker: the larger of the resident-set high-water mark and tracemalloc's peak, so numpy buffers
and native scratch such as pocketfft's both count). The estimate must cover the peak and stay
within 10 % of it, at two realistic cells per method (float64, and float32 with padding).
"""

from __future__ import annotations

import pytest

from convbench import available_methods
from convbench.cases import Case
from convbench.measure.memory import MemoryResult
from convbench.measure.worker import MemoryRequest, Target, Workers
from convbench.methods import get_method

#: How far above the measured peak an estimate may be.
OVER = 1.10

CELLS = (
    Case((256, 256), (33, 33), 5, (2, 2)),
    Case((300, 260), (9, 7), 3, (1, 1), (1, 2), "float32"),
)
#: For methods that would need more than WINDOW_LIMIT at the large cell (every window copied):
#: cells of the same kinds, smaller.
WINDOW_LIMIT = 256 * 2**20
WINDOW_CELLS = (
    Case((128, 128), (17, 17), 5, (2, 2)),
    Case((200, 180), (9, 7), 3, (1, 1), (1, 2), "float32"),
)
#: The oracle's Python loops (seconds at the large cells) and the quadratic dense operator.
OWN_CELLS = {
    "loops": (
        Case((96, 80), (9, 7), 3, (2, 2), (1, 1)),
        Case((120, 100), (5, 5), 0, (1, 1), (0, 0), "int64"),
    ),
    "toeplitz": (
        Case((40, 36), (5, 4), 3, (2, 2)),
        Case((48, 48), (7, 7), 0, (1, 1), (2, 2), "float32"),
    ),
}
#: torch's allocator and oneDNN scratch were not measured where these estimates were fitted.
NOT_FITTED = {"torch"}


def cells(name: str) -> tuple[Case, ...]:
    if name in OWN_CELLS:
        return OWN_CELLS[name]
    if get_method(name).estimate_bytes(CELLS[0]) > WINDOW_LIMIT:
        return WINDOW_CELLS
    return CELLS


@pytest.fixture(scope="module")
def workers():
    with Workers() as w:
        yield w


@pytest.mark.parametrize("name", [m for m in available_methods() if m not in NOT_FITTED])
def test_estimate_covers_one_call_within_ten_percent(name, workers):
    for case in cells(name):
        estimate = get_method(name).estimate_bytes(case)
        found = workers.run(MemoryRequest(Target(case, name), call_s=0.05))
        assert isinstance(found, MemoryResult), found
        if found.rss_bytes is None:  # no resettable RSS here: only the Python-visible part
            assert found.tracemalloc_bytes <= estimate, case.label()
            continue
        peak = found.peak_bytes
        assert peak <= estimate <= OVER * peak, (
            f"{name} on {case.label()}: estimate {estimate} B, peak {peak} B "
            f"(x{estimate / peak:.3f}; RSS {found.rss_bytes}, "
            f"tracemalloc {found.tracemalloc_bytes})"
        )


def test_window_cells_are_only_for_methods_that_copy_every_window():
    assert cells("strided-view") == WINDOW_CELLS
    assert cells("fft") == CELLS and cells("windows-einsum") == CELLS

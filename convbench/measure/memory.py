"""Peak extra memory of one call, native buffers included; runs inside a fresh worker process.

The worker (:mod:`convbench.measure.worker`) first makes glibc hand every block of 64 KiB or more
to ``mmap`` and give freed memory straight back (:func:`probing_allocator`), so that each such
block the call allocates shows up as new resident pages. Then two figures per call:

``VmHWM`` delta
    the kernel's resident-set high-water mark (reset through ``/proc/self/clear_refs``) after the
    call minus ``VmRSS`` before it: every page the call touched, numpy buffers, scipy/pocketfft
    scratch, BLAS workspace and the output included. It misses blocks served from pages that
    were already resident (small blocks from the heap, numpy's small-array cache).
``tracemalloc_bytes``
    :mod:`tracemalloc`'s peak: allocations made through Python's allocators (numpy registers its
    buffers there), byte-exact but blind to native scratch such as FFT plans and work arrays.

``peak_bytes`` is the larger of the two, so it is never below what the call provably allocated,
and includes native scratch where that is larger. Its resolution is
:data:`MEMORY_RESOLUTION_BYTES`: two peaks closer than that count as equal. Where
``/proc/self/clear_refs`` is not writable (not Linux, some containers) only tracemalloc's figure
is left and ``note`` says so.

Methods that keep scratch buffers between calls (:mod:`convbench.methods._workspace`) would
allocate nothing in a measured call after the warm-up: the workspaces are cleared right before
each measured call, so its peak includes them (they stay resident in a user's process anyway).
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..methods import _workspace
from .allocator import mallopt

#: Blocks at least this large are mapped (and so seen by VmHWM) in the memory worker.
MMAP_THRESHOLD = 64 * 1024
#: Peaks closer than this are equal: smaller native blocks may come from resident heap pages,
#: and RSS counters move in per-CPU batches of pages.
MEMORY_RESOLUTION_BYTES = 64 * 1024
#: Skip the warm-up call / the tracemalloc call for calls slower than this (seconds).
WARM_CALL_MAX_S = 0.5
TRACEMALLOC_CALL_MAX_S = 10.0
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


@dataclass(frozen=True)
class MemoryResult:
    """What one memory measurement found; ``note`` is set when a figure is missing or degraded."""

    peak_bytes: int | None = None
    tracemalloc_bytes: int | None = None
    rss_bytes: int | None = None
    source: str = ""
    note: str = ""


def probing_allocator() -> str | None:
    """Make every block >= 64 KiB an ``mmap`` given back on ``free`` (this process only)."""
    return mallopt(MMAP_THRESHOLD, MMAP_THRESHOLD)


def _status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"{field} not in {_STATUS}")


def hwm_resettable() -> bool:
    """Whether this process can reset its RSS high-water mark (Linux ``clear_refs``)."""
    try:
        _CLEAR_REFS.write_text("5")
        _status_kib("VmHWM")
        return True
    except OSError:
        return False


def _rss_peak(call: Callable[[], object]) -> int:
    _workspace.clear()
    rss_before = _status_kib("VmRSS")
    _CLEAR_REFS.write_text("5")
    out = call()
    peak = max(0, _status_kib("VmHWM") - rss_before) * 1024
    del out
    gc.collect()
    return peak


def _traced_peak(call: Callable[[], object]) -> int:
    _workspace.clear()
    tracemalloc.start()
    try:
        out = call()
        traced = tracemalloc.get_traced_memory()[1]
        del out
    finally:
        tracemalloc.stop()
    return traced


def peak_of_call(
    call: Callable[[], object], call_s: float, *, resettable: bool | None = None
) -> MemoryResult:
    """Measure ``call()``: RSS high-water mark in one call, tracemalloc's peak in another.

    The calling thread's method workspaces are cleared before each of the two calls, so reused
    scratch counts in the peak as it did in the first call of the process.

    ``call_s`` (the call's time, from timing) decides whether a warm-up call and the
    tracemalloc call are affordable; ``resettable`` overrides :func:`hwm_resettable` (tests).
    Cost: two or three calls.
    """
    if call_s < WARM_CALL_MAX_S:
        call()  # lazy imports, plan caches and other one-time costs are not the call's peak
    gc.collect()
    can_reset = hwm_resettable() if resettable is None else resettable
    rss = _rss_peak(call) if can_reset else None
    traced = None
    note = ""
    if call_s < TRACEMALLOC_CALL_MAX_S or rss is None:
        traced = _traced_peak(call)
    else:
        note = f"tracemalloc skipped (call takes {call_s:.1f} s): peak is RSS only"
    if rss is None:
        note = "peak_bytes is tracemalloc's (clear_refs unavailable: native buffers missed)"
        return MemoryResult(traced, traced, None, "tracemalloc", note)
    peak = max(rss, traced or 0)
    source = "VmHWM" if rss >= (traced or 0) else "tracemalloc"
    return MemoryResult(peak, traced, rss, source, note)

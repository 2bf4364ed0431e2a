"""The malloc a measurement runs under: glibc's own (what a user's program gets), or fixed.

glibc adapts its mmap threshold as a process frees large blocks, and gives memory back to the
kernel when the top of the heap has more than a trim threshold free. So a call's large temporaries
come from fresh pages (a page fault per 4 KiB, billed as CPU time) on every call in a plain
program, or from recycled heap once a process has run something that raised the threshold.

Two settings, both recorded in every row (``allocator``) and in the sidecar:

``default``
    glibc as a plain ``python script.py`` has it: nothing is changed. This is what a user's
    program that imports numpy and calls a method sees, page faults included.
``steady``
    :func:`steady_allocator` fixes both thresholds (``mallopt``): blocks up to 32 MiB (glibc's
    limit) come from the heap and stay there between calls, larger ones are mapped by every call.
    What a program that tunes glibc (``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``, or a
    long-running service whose thresholds have grown) gets.

Every measurement runs in a fresh worker process, so the setting never leaks into another cell.
Elsewhere than glibc both settings are the platform's allocator, and the description says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

#: The allocator settings a sweep can ask for (config key ``allocator``).
ALLOCATORS = ("default", "steady")

#: ``mallopt`` parameters (glibc ``malloc.h``).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit).
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free heap kept instead of being given back (mallopt takes an int).
TRIM_THRESHOLD = 2**31 - 1


def mallopt(mmap_threshold: int, trim_threshold: int) -> str | None:
    """Set glibc's mmap and trim thresholds; ``None`` on success, else why nothing changed."""
    if platform.libc_ver()[0] != "glibc":
        return "unchanged (not glibc)"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold) and libc.mallopt(
            M_TRIM_THRESHOLD, trim_threshold
        )
    except (OSError, AttributeError):
        return "unchanged (mallopt not available)"
    return None if ok else "unchanged (mallopt refused)"


def steady_allocator() -> str:
    """Fix glibc's mmap and trim thresholds for the rest of this process; describe the outcome.

    Returns ``"glibc mallopt: mmap_threshold=32MiB, trim_threshold=2GiB"``, or why nothing was
    changed. Cost: two ``mallopt`` calls; it cannot be undone in this process.
    """
    failed = mallopt(MMAP_THRESHOLD, TRIM_THRESHOLD)
    return failed or "glibc mallopt: mmap_threshold=32MiB, trim_threshold=2GiB"


def describe(name: str) -> str:
    """What allocator setting ``name`` means on this machine (for the sidecar)."""
    libc = "glibc" if platform.libc_ver()[0] == "glibc" else "the platform's allocator"
    if name == "steady":
        return (
            "glibc mallopt: mmap_threshold=32MiB, trim_threshold=2GiB"
            if libc == "glibc"
            else f"{libc}, unchanged"
        )
    return f"{libc} defaults (adaptive thresholds), as a plain program has them"


def use_allocator(name: str) -> str:
    """Apply setting ``name`` (one of :data:`ALLOCATORS`) to this process; describe it."""
    if name not in ALLOCATORS:
        raise ValueError(f"allocator must be one of {', '.join(ALLOCATORS)}, got {name!r}")
    return steady_allocator() if name == "steady" else describe(name)

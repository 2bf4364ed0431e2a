"""A malloc that does not depend on the process's history, for the process that times.

glibc adapts its mmap threshold as a process frees large blocks, and gives memory back to the
kernel when the top of the heap has more than a trim threshold free. So the same call can take
its temporaries from recycled heap (no page faults) in one process and from fresh pages (a page
fault per 4 KiB, billed as CPU time) in another: measured here, ``fft-polyphase`` at
200x200x10 * 11x11 s5 ran at 7.3 ms with 3210 page faults per call as the only cell of a process
and at 2.4 ms with none after ``fft`` had run. Timings would depend on which cells ran before,
and a gate that re-measures a few cells alone would see regressions that are not there.

:func:`steady_allocator` fixes both thresholds (``mallopt``): blocks up to 32 MiB (glibc's limit)
come from the heap and stay there between calls, larger ones are mapped and unmapped by every
call, whatever ran before. Elsewhere than glibc it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

#: ``mallopt`` parameters (glibc ``malloc.h``).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit).
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free heap kept instead of being given back (mallopt takes an int).
TRIM_THRESHOLD = 2**31 - 1


def steady_allocator() -> str:
    """Fix glibc's mmap and trim thresholds for the rest of this process; describe the outcome.

    Returns the setting, for the results sidecar: ``"glibc mallopt: mmap_threshold=32MiB,
    trim_threshold=2GiB"``, or why nothing was changed. Cost: two ``mallopt`` calls. Memory
    freed by timed calls stays in this process (up to the largest temporary below 32 MiB).
    """
    if platform.libc_ver()[0] != "glibc":
        return "unchanged (not glibc)"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(
            M_TRIM_THRESHOLD, TRIM_THRESHOLD
        )
    except (OSError, AttributeError):
        return "unchanged (mallopt not available)"
    if not ok:
        return "unchanged (mallopt refused)"
    return "glibc mallopt: mmap_threshold=32MiB, trim_threshold=2GiB"

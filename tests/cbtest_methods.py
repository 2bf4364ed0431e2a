"""Tiny user methods for the run tests, importable as ``cbtest_methods:NAME`` (module:function).

They follow the method contract (x (H, W) or (H, W, C), normalised stride/padding) and are
independent of the built-in methods, which another part of the project owns.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def good(x, kernel, stride, padding):
    """Correct: sliding windows of the zero-padded input, contracted with the kernel."""
    (ph, pw), (sh, sw) = padding, stride
    pad = ((ph, ph), (pw, pw)) + (((0, 0),) if x.ndim == 3 else ())
    xp = np.pad(x, pad)
    win = sliding_window_view(xp, kernel.shape)[::sh, ::sw]
    axes = tuple(range(2, win.ndim))
    if x.ndim == 3:
        win = win[:, :, 0]
        axes = tuple(range(2, win.ndim))
    return np.tensordot(win, kernel, axes=(axes, tuple(range(kernel.ndim)))).astype(x.dtype)


def off_by_one(x, kernel, stride, padding):
    """Wrong on purpose: the right shape, every value one too high."""
    return good(x, kernel, stride, padding) + 1


def raises(x, kernel, stride, padding):
    """Broken on purpose: always raises."""
    raise RuntimeError("deliberately broken")


def big_temporary(x, kernel, stride, padding):
    """Correct, but touches a 64 MiB temporary on the way."""
    scratch = np.ones(8 * 2**20)  # 8 Mi float64 = 64 MiB, every page written
    out = good(x, kernel, stride, padding)
    return out + out.dtype.type(scratch[0] - 1)


def slow(x, kernel, stride, padding):
    """Correct and slow: 30 ms per call (for budget and interruption tests)."""
    time.sleep(0.03)
    return good(x, kernel, stride, padding)


def dies(x, kernel, stride, padding):
    """Kills its own process, as the kernel's out-of-memory killer would."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def hangs(x, kernel, stride, padding):
    """Never returns (for timeout tests)."""
    time.sleep(3600)


def small_blocks(x, kernel, stride, padding):
    """Correct, with a few hundred KiB of small (< 64 KiB) temporaries alive at once."""
    keep = [np.ones(1024) for _ in range(64)]  # 64 x 8 KiB, from the heap, not mmap
    return good(x, kernel, stride, padding) + keep[0][0] - 1


_MARKER: list[str] = []


def leaves_a_mark(x, kernel, stride, padding):
    """Correct, and leaves a mark in its process (as a warm cache or a raised malloc threshold)."""
    _MARKER.append("was here")
    return good(x, kernel, stride, padding)


def needs_a_fresh_process(x, kernel, stride, padding):
    """Correct only in a process where no other method ran before: wrong (+1) after another."""
    return good(x, kernel, stride, padding) + (1 if _MARKER else 0)


def gated(x, kernel, stride, padding):
    """Correct, but waits while the file named by ``$CBTEST_GATE`` exists (holds a run mid-way)."""
    import os

    gate = os.environ.get("CBTEST_GATE")
    while gate and os.path.exists(gate):
        time.sleep(0.01)
    return good(x, kernel, stride, padding)


def torch_absent(x, kernel, stride, padding):
    """Correct, but raises if torch was imported into the process (a plain user's program)."""
    import sys

    if "torch" in sys.modules:
        raise RuntimeError("torch is imported in this worker")
    return good(x, kernel, stride, padding)


def torch_preloaded(x, kernel, stride, padding):
    """Correct, but raises unless torch was imported before the call, with one intra-op thread
    (what a fork server that preloads torch for a one-thread sweep gives its workers)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        raise RuntimeError("torch was not imported before the call")
    if torch.get_num_threads() != 1:
        raise RuntimeError(f"torch runs {torch.get_num_threads()} intra-op threads, not 1")
    return good(x, kernel, stride, padding)

"""Deliberately slowed copies of ``shift-add``, to measure how well the gate detects a slowdown.

Used as user methods by ``benchmarks/compare_quality.py``
(``{name: "benchmarks.slow_plugin:func"}``) and by ``benchmarks/gate_quality.py``, which copies
this file into the package of its scratch repository.
Each returns exactly the real method's result (so it passes verification) and then does an extra
``fraction`` of the real work. shift-add costs one pass over its (Hp - kh + 1, Wp - kw + 1)
accumulator per kernel tap, so the extra work is shift-add again with an ``r x c`` corner of the
kernel on an input cropped so that the accumulator keeps its size: ``r*c / (kh*kw)`` more passes
of exactly the same kind, with ``r*c`` the tap count closest to ``fraction * kh*kw`` (e.g. 5x5:
2/25 and 6/25; 11x11: 12/121 and 30/121). The quality script reports the ratio actually measured.

That extra work is of one kind only (accumulator passes), so its share of the time moves with
the host: with a memory-bandwidth-hungry neighbour the x1.10 copy measured x1.065 (paired,
sequential rounds), x1.12 on a quiet machine. The **repeated** copies (:func:`repeated`) are
exact in every condition: ``shift_add_x10`` calls shift-add 10 times, ``shift_add_x11`` 11
times, so the second is x1.10 of the first whatever the host does to one call (likewise
``shift_add_x4`` / ``shift_add_x5``: x1.25). ``gate_quality.py`` uses those, base against
slowed.
"""

from __future__ import annotations

import numpy as np

from convbench.methods import get_method
from convbench.methods._common import pad_zeros

_shift_add = get_method("shift-add").func


def sub_kernel_shape(kh: int, kw: int, fraction: float) -> tuple[int, int]:
    """``(r, c)`` with ``r <= kh``, ``c <= kw`` and ``r*c`` closest to ``fraction * kh*kw``."""
    target = fraction * kh * kw
    return min(
        ((r, c) for r in range(1, kh + 1) for c in range(1, kw + 1)),
        key=lambda rc: (abs(rc[0] * rc[1] - target), rc),
    )


def _extra_work(x: np.ndarray, kernel: np.ndarray, stride, padding, fraction: float) -> None:
    padded = pad_zeros(x, padding)
    kh, kw = kernel.shape[:2]
    r, c = sub_kernel_shape(kh, kw, fraction)
    rows, cols = padded.shape[0] - kh + r, padded.shape[1] - kw + c
    _shift_add(padded[:rows, :cols], kernel[:r, :c], stride, (0, 0))


def shift_add_x125(x: np.ndarray, kernel: np.ndarray, stride, padding) -> np.ndarray:
    """shift-add, then a quarter of its kernel taps again (1.25x)."""
    out = _shift_add(x, kernel, stride, padding)
    _extra_work(x, kernel, stride, padding, 0.25)
    return out


def shift_add_x150(x: np.ndarray, kernel: np.ndarray, stride, padding) -> np.ndarray:
    """shift-add, then half of its kernel taps again (1.5x)."""
    out = _shift_add(x, kernel, stride, padding)
    _extra_work(x, kernel, stride, padding, 0.5)
    return out


def shift_add_x110(x: np.ndarray, kernel: np.ndarray, stride, padding) -> np.ndarray:
    """shift-add, then a tenth of its kernel taps again (1.10x)."""
    out = _shift_add(x, kernel, stride, padding)
    _extra_work(x, kernel, stride, padding, 0.10)
    return out


def repeated(times: int):
    """shift-add called ``times`` times in a row (the last result returned)."""

    def shift_add_repeated(x: np.ndarray, kernel: np.ndarray, stride, padding) -> np.ndarray:
        for _ in range(times - 1):
            _shift_add(x, kernel, stride, padding)
        return _shift_add(x, kernel, stride, padding)

    shift_add_repeated.__name__ = f"shift_add_x{times}"
    shift_add_repeated.__doc__ = f"shift-add, {times} times in a row."
    return shift_add_repeated


shift_add_x4, shift_add_x5 = repeated(4), repeated(5)  # 5/4: exactly x1.25
shift_add_x10, shift_add_x11 = repeated(10), repeated(11)  # 11/10: exactly x1.10

"""Deliberately slowed copies of ``shift-add``, to measure how well the gate detects a slowdown.

Used by ``benchmarks/gate_quality.py`` as user methods (``{name: "benchmarks.slow_plugin:func"}``).
Each returns exactly the real method's result (so it passes verification) and then does an extra
``fraction`` of the real work: ``shift-add`` again on a crop of the input whose stride-1 output has
``fraction`` of the rows. shift-add's cost is proportional to those rows (kh*kw*C passes over
them), so this is 1.25x / 1.5x the work; the quality script reports the ratio actually measured.
"""

from __future__ import annotations

import numpy as np

from convbench.methods import get_method

_shift_add = get_method("shift-add").func


def _extra_work(x: np.ndarray, kernel: np.ndarray, stride, padding, fraction: float) -> None:
    kh = kernel.shape[0]
    full_h = x.shape[0] + 2 * padding[0] - kh + 1
    rows = max(kh, round(fraction * full_h) + kh - 1)
    _shift_add(x[:rows], kernel, stride, (0, padding[1]))


def shift_add_x125(x: np.ndarray, kernel: np.ndarray, stride, padding) -> np.ndarray:
    """shift-add, then a quarter of its work again (1.25x)."""
    out = _shift_add(x, kernel, stride, padding)
    _extra_work(x, kernel, stride, padding, 0.25)
    return out


def shift_add_x150(x: np.ndarray, kernel: np.ndarray, stride, padding) -> np.ndarray:
    """shift-add, then half of its work again (1.5x)."""
    out = _shift_add(x, kernel, stride, padding)
    _extra_work(x, kernel, stride, padding, 0.5)
    return out

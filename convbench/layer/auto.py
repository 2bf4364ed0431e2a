"""``auto`` for layers: pick a method from the case's shape (rules from bench_layer.py runs)."""

from __future__ import annotations

import numpy as np

from ..cases import Case, Pair
from .gemm import _im2col_bytes, _shift_bytes, im2col_gemm, shift_gemm
from .registry import LAYER

#: Below this many input channels a per-tap GEMM has too short an inner dimension to run well.
SHIFT_MIN_CHANNELS = 16


def choose(case: Case) -> str:
    """Name of the method ``auto`` runs for ``case``."""
    if case.channels >= SHIFT_MIN_CHANNELS and np.dtype(case.dtype).kind == "f":
        return "shift-gemm"
    return "im2col-gemm"


def _auto_bytes(case: Case) -> int:
    return _shift_bytes(case) if choose(case) == "shift-gemm" else _im2col_bytes(case)


@LAYER.register(
    "auto",
    family="auto",
    origin="convbench",
    estimate_bytes=_auto_bytes,
    summary="shift-gemm for float inputs with many channels, else im2col-gemm",
)
def auto(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Dispatch on channels and dtype (see :func:`choose`)."""
    if x.shape[3] >= SHIFT_MIN_CHANNELS and x.dtype.kind == "f":
        return shift_gemm(x, w, stride, padding)
    return im2col_gemm(x, w, stride, padding)

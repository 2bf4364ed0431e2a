"""``auto`` for layers: pick a method from the case's shape (rules from bench_layer.py runs)."""

from __future__ import annotations

import numpy as np

from ..cases import Case, Pair
from .gemm import _im2col_blocked_bytes, _shift_bytes, im2col_blocked, shift_gemm
from .registry import LAYER

#: Below this many input channels a per-tap GEMM's inner dimension (C) is too short for BLAS to
#: run well (C = 3: shift-gemm at ~1/2 of im2col's GFLOP/s); from 16 up, at stride 1, shift-gemm
#: matches or beats im2col-blocked because it copies nothing.
SHIFT_MIN_CHANNELS = 16


def _pick(channels: int, taps: int, stride: Pair, dtype: np.dtype) -> str:
    # Integer GEMMs have no BLAS: fewer, larger matmuls win. For 1x1 kernels and strides > 1
    # (shift-gemm then computes every stride phase's rows) im2col-blocked measured faster.
    if channels >= SHIFT_MIN_CHANNELS and taps > 1 and stride == (1, 1) and dtype.kind == "f":
        return "shift-gemm"
    return "im2col-blocked"


def choose(case: Case) -> str:
    """Name of the method ``auto`` runs for ``case``."""
    taps = case.kernel_size[0] * case.kernel_size[1]
    return _pick(case.channels, taps, case.stride, np.dtype(case.dtype))


def _auto_bytes(case: Case) -> int:
    return _shift_bytes(case) if choose(case) == "shift-gemm" else _im2col_blocked_bytes(case)


@LAYER.register(
    "auto",
    family="auto",
    origin="convbench",
    estimate_bytes=_auto_bytes,
    summary="shift-gemm for float, stride 1, C >= 16, kernel > 1x1; else im2col-blocked",
)
def auto(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Dispatch on channels and dtype (see :func:`choose`)."""
    if _pick(x.shape[3], w.shape[0] * w.shape[1], stride, x.dtype) == "shift-gemm":
        return shift_gemm(x, w, stride, padding)
    return im2col_blocked(x, w, stride, padding)

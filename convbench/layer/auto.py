"""``auto`` for layers: pick a method from the case's shape (rules from bench_layer.py runs)."""

from __future__ import annotations

import numpy as np

from ..cases import Case, Pair
from .fft import _fft_bytes, fft_layer
from .gemm import _im2col_blocked_bytes, im2col_blocked
from .registry import LAYER

#: Kernel taps per stride phase from which the FFT's size-independent cost wins. Measured on
#: N 4, 56 px, C 32, F 32, stride 1: 7x7 im2col-blocked 2.1x faster (float32), 11x11 FFT 1.4x
#: faster, 15x15 FFT 2.5x. Below it im2col-blocked was the fastest or within 5% of it on every
#: mid-size cell (it beat shift-gemm by 1-15% and classic im2col-gemm by 1.2-3x).
FFT_MIN_TAPS_PER_PHASE = 100


def _pick(kernel_hw: tuple[int, int], stride: Pair, dtype: np.dtype) -> str:
    taps_per_phase = kernel_hw[0] * kernel_hw[1] / (stride[0] * stride[1])
    if dtype.kind == "f" and taps_per_phase >= FFT_MIN_TAPS_PER_PHASE:
        return "fft-layer"
    return "im2col-blocked"


def choose(case: Case) -> str:
    """Name of the method ``auto`` runs for ``case``."""
    return _pick(case.kernel_size, case.stride, np.dtype(case.dtype))


def _auto_bytes(case: Case) -> int:
    return _fft_bytes(case) if choose(case) == "fft-layer" else _im2col_blocked_bytes(case)


@LAYER.register(
    "auto",
    family="auto",
    origin="convbench",
    estimate_bytes=_auto_bytes,
    summary="fft-layer for float kernels of >= 100 taps per stride phase, else im2col-blocked",
)
def auto(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Dispatch on kernel size, stride and dtype (see :func:`choose`)."""
    if _pick(w.shape[:2], stride, x.dtype) == "fft-layer":
        return fft_layer(x, w, stride, padding)
    return im2col_blocked(x, w, stride, padding)

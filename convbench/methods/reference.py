"""The oracle: the question's plain Python loops, one output value at a time (seed 000)."""

from __future__ import annotations

import numpy as np

from ..cases import Case, Pair
from ._common import CALL_BYTES, output_bytes
from .registry import register


def _loops_bytes(case: Case) -> int:
    # The padded copy (made even without padding), the kernel copy, one window product at a
    # time and the result, all in the wide dtype; then the result cast back to the input dtype.
    (hp, wp), (kh, kw) = case.padded_size, case.kernel_size
    wide = (hp * wp + 2 * kh * kw) * case.channels * 8 + output_bytes(case, 8)
    return wide + output_bytes(case) + CALL_BYTES


@register(
    "loops",
    family="direct",
    origin="seed 000: the question's for-loop stride_conv",
    estimate_bytes=_loops_bytes,
    summary="the oracle: Python loops over outputs, sum(window * kernel); slow, small cases",
)
def loops(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Valid strided cross-correlation by the definition, one output at a time.

    ``out[i, j] = sum(padded[i*sh : i*sh + kh, j*sw : j*sw + kw] * kernel)``, accumulated in
    int64 or float64 and cast back to the input dtype. Cost: Ho*Wo Python iterations, each
    kh*kw*C multiply-adds; memory: one padded copy (in the wide dtype) and the result.
    """
    wide = np.int64 if x.dtype.kind in "iu" else np.float64
    ph, pw = padding
    h, w = x.shape[:2]
    padded = np.zeros((h + 2 * ph, w + 2 * pw, *x.shape[2:]), dtype=wide)
    padded[ph : ph + h, pw : pw + w] = x
    k = kernel.astype(wide)
    kh, kw = kernel.shape[:2]
    sh, sw = stride
    out_h = 1 + (padded.shape[0] - kh) // sh
    out_w = 1 + (padded.shape[1] - kw) // sw
    out = np.zeros((out_h, out_w), dtype=wide)
    for i in range(out_h):
        for j in range(out_w):
            window = padded[i * sh : i * sh + kh, j * sw : j * sw + kw]
            out[i, j] = np.sum(window * k)
    return out.astype(x.dtype)

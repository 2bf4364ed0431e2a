"""Direct methods that loop over the kernel taps, not over the outputs."""

from __future__ import annotations

import numpy as np

from ..cases import Case, Pair
from ._common import CALL_BYTES, output_bytes, pad_zeros, padded_bytes
from .registry import register


def _shift_add_bytes(case: Case) -> int:
    # A full stride-1 accumulator plus one product buffer of the same size, the sub-sampled
    # copy of the accumulator, plus padding.
    hp, wp = case.padded_size
    kh, kw = case.kernel_size
    full = (hp - kh + 1) * (wp - kw + 1) * case.itemsize
    return 2 * full + output_bytes(case) + padded_bytes(case) + CALL_BYTES


@register(
    "shift-add",
    family="direct",
    origin="seed 000: the study's 'special conv' (sub-matrix summing), then sub-sampled",
    estimate_bytes=_shift_add_bytes,
    summary="2D + depth, any stride/padding; kh*kw*C slice products at stride 1, then [::s]",
)
def shift_add(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Accumulate ``kernel[a, b, c] * padded[a:, b:, c]`` over every tap, then sub-sample.

    As in the study, the accumulator covers every stride-1 output
    (Hp - kh + 1, Wp - kw + 1) and the stride is applied at the end, so a stride s wastes
    about s**2 of the work. Cost: kh*kw*C passes over that accumulator; memory: the
    accumulator and one product buffer of its size.
    """
    padded = pad_zeros(x, padding)
    kh, kw = kernel.shape[:2]
    full_h, full_w = padded.shape[0] - kh + 1, padded.shape[1] - kw + 1
    acc = np.zeros((full_h, full_w), dtype=x.dtype)
    product = np.empty_like(acc)
    taps = kernel if kernel.ndim == 3 else kernel[..., None]
    planes = padded if padded.ndim == 3 else padded[..., None]
    for a in range(kh):
        for b in range(kw):
            for c in range(taps.shape[2]):
                np.multiply(planes[a : a + full_h, b : b + full_w, c], taps[a, b, c], out=product)
                acc += product
    return acc[:: stride[0], :: stride[1]].copy()

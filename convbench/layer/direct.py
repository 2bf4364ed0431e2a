"""The question's four loops (seed 001), with stride and padding: the obviously-correct oracle."""

from __future__ import annotations

import numpy as np

from ..cases import Case, Pair
from ._shapes import output_bytes, output_hw, pad, padded_bytes
from .registry import LAYER


def _loops_bytes(case: Case) -> int:
    return padded_bytes(case) + output_bytes(case)


@LAYER.register(
    "loops",
    family="direct",
    origin="seed 001 (the question)",
    estimate_bytes=_loops_bytes,
    summary="one window product per (n, i, j, f) in Python loops; the reference",
)
def loops(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Loop over batch, output rows, output columns and filters; sum one window product each.

    Cost: N*Ho*Wo*F Python iterations, each a (kh, kw, C) multiply and sum.
    """
    xp = pad(x, padding)
    kh, kw, _, f = w.shape
    sh, sw = stride
    ho, wo = output_hw(xp.shape[1:3], (kh, kw), stride)
    out = np.zeros((x.shape[0], ho, wo, f), dtype=x.dtype)
    for n in range(x.shape[0]):
        for i in range(ho):
            for j in range(wo):
                window = xp[n, i * sh : i * sh + kh, j * sw : j * sw + kw, :]
                for k in range(f):
                    out[n, i, j, k] = np.multiply(window, w[:, :, :, k]).sum()
    return out

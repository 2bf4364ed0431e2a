"""Strided window views (seed 001's accepted answer): one 6D view, then tensordot or einsum."""

from __future__ import annotations

import numpy as np

from ..cases import Case, Pair
from ._shapes import output_bytes, pad, padded_bytes, patches_bytes, windows
from .registry import LAYER


def _tensordot_bytes(case: Case) -> int:
    # tensordot reshapes the non-contiguous window view, which copies every window value.
    return padded_bytes(case) + patches_bytes(case) + output_bytes(case)


def _einsum_bytes(case: Case) -> int:
    return padded_bytes(case) + output_bytes(case)


@LAYER.register(
    "strided-tensordot",
    family="view",
    origin="seed 001 (accepted answer, recommended form)",
    estimate_bytes=_tensordot_bytes,
    summary="as_strided (N,Ho,Wo,kh,kw,C) windows, np.tensordot over the last three axes",
)
def strided_tensordot(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """``tensordot(windows, w, axes=3)``; copies the N*Ho*Wo*kh*kw*C window values, then a GEMM."""
    win = windows(pad(x, padding), w.shape[:2], stride)
    return np.tensordot(win, w, axes=3)


@LAYER.register(
    "strided-einsum",
    family="view",
    origin="seed 001 (accepted answer, first form)",
    estimate_bytes=_einsum_bytes,
    summary="as_strided windows, np.einsum('nhwijc,ijcf->nhwf') without a copy",
)
def strided_einsum(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """``einsum`` straight over the window view: no copy, but no BLAS either.

    Cost: 2*N*Ho*Wo*kh*kw*C*F flops in einsum's own loops; memory only the output.
    """
    win = windows(pad(x, padding), w.shape[:2], stride)
    return np.einsum("nhwijc,ijcf->nhwf", win, w)

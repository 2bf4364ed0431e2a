"""Small helpers every layer method shares: padding, output shape, window views, byte counts."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..cases import Case, Pair


def pad(x: np.ndarray, padding: Pair) -> np.ndarray:
    """Zero-pad the H and W axes of an (N, H, W, C) array; returns ``x`` itself when no padding."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))


def output_hw(padded_hw: tuple[int, int], kernel_hw: tuple[int, int], stride: Pair) -> Pair:
    """(Ho, Wo) of a valid correlation of a padded (Hp, Wp) image with a (kh, kw) kernel."""
    return (
        1 + (padded_hw[0] - kernel_hw[0]) // stride[0],
        1 + (padded_hw[1] - kernel_hw[1]) // stride[1],
    )


def windows(xp: np.ndarray, kernel_hw: tuple[int, int], stride: Pair) -> np.ndarray:
    """Read-only (N, Ho, Wo, kh, kw, C) view of every kernel window of a padded NHWC array.

    No data is copied, but any reduction that reshapes this view (``tensordot``, ``reshape``)
    materialises all N*Ho*Wo*kh*kw*C values.
    """
    n, _, _, c = xp.shape
    kh, kw = kernel_hw
    ho, wo = output_hw(xp.shape[1:3], kernel_hw, stride)
    s_n, s_h, s_w, s_c = xp.strides
    return as_strided(
        xp,
        shape=(n, ho, wo, kh, kw, c),
        strides=(s_n, s_h * stride[0], s_w * stride[1], s_h, s_w, s_c),
        writeable=False,
    )


def padded_bytes(case: Case) -> int:
    """Bytes of the zero-padded input copy (0 when there is no padding)."""
    if case.padding == (0, 0):
        return 0
    hp, wp = case.padded_size
    return max(case.batch, 1) * hp * wp * case.channels * case.itemsize


def output_bytes(case: Case) -> int:
    """Bytes of the (N, Ho, Wo, F) result."""
    ho, wo = case.output_size
    return max(case.batch, 1) * ho * wo * max(case.filters, 1) * case.itemsize


def patches_bytes(case: Case) -> int:
    """Bytes of an (N*Ho*Wo, kh*kw*C) patches matrix."""
    ho, wo = case.output_size
    kh, kw = case.kernel_size
    return max(case.batch, 1) * ho * wo * kh * kw * case.channels * case.itemsize

"""Lowering to matrix products: the operator (Toeplitz) matrix and im2col."""

from __future__ import annotations

import numpy as np

from ..cases import Case, Pair
from ._common import (
    BUFFER_ELEMENTS,
    CALL_BYTES,
    output_bytes,
    output_size,
    pad_zeros,
    padded_bytes,
    strided_slice,
)
from .registry import register


def _toeplitz_bytes(case: Case) -> int:
    # The dense operator (Ho*Wo) x (Hp*Wp*C); the index arrays stay un-broadcast (Ho + Wo rows
    # of kh or kw), and fancy indexing broadcasts the four of them buffer by buffer.
    (ho, wo), (hp, wp), (kh, kw) = case.output_size, case.padded_size, case.kernel_size
    operator = ho * wo * hp * wp * case.channels * case.itemsize
    indices = (ho * kh + wo * kw) * 8 + 4 * min(BUFFER_ELEMENTS, ho * wo * kh * kw) * 8
    return operator + indices + padded_bytes(case) + output_bytes(case) + CALL_BYTES


@register(
    "toeplitz",
    family="gemm",
    origin="seeds 002/004: the operator matrix W_K built by fancy indexing, then tensordot",
    estimate_bytes=_toeplitz_bytes,
    summary="2D + depth, any stride/padding; dense (Ho*Wo) x (Hp*Wp*C) operator, small cases",
)
def toeplitz(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Build the dense operator ``W`` with ``out = tensordot(W, padded)`` and apply it.

    ``W[i, j, i*sh + a, j*sw + b] = kernel[a, b]`` (a (C,) vector with depth), zero elsewhere,
    filled in one fancy-indexed assignment (no Python loop). Memory grows like
    (Ho*Wo)*(Hp*Wp*C): quadratic in the image size.
    """
    padded = pad_zeros(x, padding)
    ho, wo = output_size(padded, kernel, stride)
    kh, kw = kernel.shape[:2]
    operator = np.zeros((ho, wo, *padded.shape), dtype=x.dtype)
    i, j = np.ogrid[:ho, :wo]
    a, b = np.ogrid[:kh, :kw]
    rows = i[:, :, None, None] * stride[0] + a
    cols = j[:, :, None, None] * stride[1] + b
    operator[i[:, :, None, None], j[:, :, None, None], rows, cols] = kernel
    return np.tensordot(operator, padded, axes=padded.ndim)


def _im2col_bytes(case: Case) -> int:
    ho, wo = case.output_size
    kh, kw = case.kernel_size
    columns = ho * wo * kh * kw * case.channels * case.itemsize
    return columns + padded_bytes(case) + output_bytes(case) + CALL_BYTES


@register(
    "im2col-gemm",
    family="gemm",
    origin="seed 001: the im2col lowering TensorFlow's conv2d documents, then one matmul",
    estimate_bytes=_im2col_bytes,
    summary="2D + depth, any stride/padding; copies patches to (Ho*Wo, kh*kw*C), then matmul",
)
def im2col_gemm(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Copy every patch into a (Ho*Wo, kh*kw*C) matrix and multiply it by the flat kernel.

    The matrix is filled one kernel tap at a time (kh*kw strided slice copies), so it is
    C-contiguous and the product is a single BLAS matrix-vector call for floats.
    Memory: Ho*Wo*kh*kw*C values.
    """
    padded = pad_zeros(x, padding)
    ho, wo = output_size(padded, kernel, stride)
    kh, kw = kernel.shape[:2]
    columns = np.empty((ho, wo, *kernel.shape), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            columns[:, :, a, b] = strided_slice(padded, (a, b), (ho, wo), stride)
    return (columns.reshape(ho * wo, kernel.size) @ kernel.reshape(-1)).reshape(ho, wo)

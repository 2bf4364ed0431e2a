"""Window-view methods: one strided view of every window, then a contraction (seeds 000, 001, 003).

The view itself costs nothing; what each contraction materialises is what differs, and that is
what their ``estimate_bytes`` say.
"""

from __future__ import annotations

import numpy as np
from skimage.util import view_as_windows

from ..cases import Case, Pair
from ._common import (
    CALL_BYTES,
    REDUCTION_BUFFERS,
    output_bytes,
    pad_zeros,
    padded_bytes,
    window_view,
    windows_bytes,
)
from .registry import register


def _copy_windows_bytes(case: Case) -> int:
    return windows_bytes(case) + padded_bytes(case) + output_bytes(case) + CALL_BYTES


def _product_bytes(case: Case) -> int:
    return _copy_windows_bytes(case) + REDUCTION_BUFFERS


def _einsum_bytes(case: Case) -> int:
    return padded_bytes(case) + output_bytes(case) + CALL_BYTES


def _window_axes(kernel: np.ndarray, first: int) -> tuple[int, ...]:
    return tuple(range(first, first + kernel.ndim))


@register(
    "strided-view",
    family="view",
    origin="seed 000: the study's 'stride-view conv' (as_strided, sum(view * kernel))",
    estimate_bytes=_product_bytes,
    summary="2D + depth, any stride/padding; materialises the Ho*Wo*kh*kw*C product",
)
def strided_view(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """``sum(view * kernel)`` over each window of an ``as_strided`` (Ho, Wo, kh, kw[, C]) view.

    Memory: the product ``view * kernel`` is a full Ho*Wo*kh*kw*C temporary (the peak the study
    saw above n = 350); cost: that many multiplies and adds.
    """
    view = window_view(pad_zeros(x, padding), kernel.shape, stride)
    return np.sum(view * kernel, axis=_window_axes(kernel, 2))


@register(
    "strided-tensordot",
    family="view",
    origin="seeds 000/001: Divakar's answer, as_strided view contracted with tensordot",
    estimate_bytes=_copy_windows_bytes,
    summary="2D + depth, any stride/padding; tensordot copies the windows into one matrix",
)
def strided_tensordot(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """``tensordot`` of the (Ho, Wo, kh, kw[, C]) window view with the kernel.

    tensordot reshapes the non-contiguous view into a (Ho*Wo, kh*kw*C) matrix, which copies it
    (Ho*Wo*kh*kw*C values), then one matrix-vector product (BLAS for floats).
    """
    view = window_view(pad_zeros(x, padding), kernel.shape, stride)
    return np.tensordot(view, kernel, axes=(_window_axes(kernel, 2), _window_axes(kernel, 0)))


@register(
    "strided-einsum",
    family="view",
    origin="seeds 000/001: the same as_strided view contracted with einsum",
    estimate_bytes=_einsum_bytes,
    summary="2D + depth, any stride/padding; einsum loops over the view, no big temporary",
)
def strided_einsum(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """``einsum`` of the window view with the kernel, without materialising the windows.

    Unoptimised einsum iterates over the view in C, so the only allocation is the result;
    cost: Ho*Wo*kh*kw*C multiply-adds, without BLAS.
    """
    view = window_view(pad_zeros(x, padding), kernel.shape, stride)
    spec = "ijabc,abc->ij" if kernel.ndim == 3 else "ijab,ab->ij"
    return np.einsum(spec, view, kernel)


@register(
    "view-as-windows",
    family="view",
    origin="seed 000: Divakar's alternative, skimage.util.view_as_windows with step",
    estimate_bytes=_copy_windows_bytes,
    summary="2D + depth, any stride/padding; skimage window view, tensordot copies windows",
)
def view_as_windows_tensordot(
    x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair
) -> np.ndarray:
    """scikit-image's ``view_as_windows(padded, kernel.shape, step)`` contracted with tensordot.

    With depth the view is (Ho, Wo, 1, kh, kw, C) (one window position along C). Memory and
    cost as ``strided-tensordot``: the contraction copies Ho*Wo*kh*kw*C values.
    """
    padded = pad_zeros(x, padding)
    step = stride + (1,) * (kernel.ndim - 2)
    windows = view_as_windows(padded, kernel.shape, step=step)
    first = windows.ndim - kernel.ndim
    out = np.tensordot(windows, kernel, axes=(_window_axes(kernel, first), _window_axes(kernel, 0)))
    return out.reshape(out.shape[:2])

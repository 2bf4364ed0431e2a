"""FFT methods: the study's fftconvolve, and the polyphase answer that folds the stride out."""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from scipy.signal import fftconvolve

from ..cases import Case, Pair
from ._common import (
    cast_bytes,
    float_dtype,
    float_itemsize,
    output_bytes,
    pad_zeros,
    padded_bytes,
    round_back,
)
from .registry import register


def _spectrum_bytes(real_shape: tuple[int, ...], itemsize: int) -> int:
    """Bytes of the rfftn of a real array of ``real_shape`` (last axis halved, complex)."""
    return math.prod(real_shape[:-1]) * (real_shape[-1] // 2 + 1) * 2 * itemsize


def _fft_bytes(case: Case) -> int:
    # fftconvolve: two spectra and their product, the full real inverse, then the valid crop.
    hp, wp = case.padded_size
    kh, kw = case.kernel_size
    dims = [hp + kh - 1, wp + kw - 1] + ([2 * case.depth - 1] if case.depth else [])
    fast = tuple(scipy.fft.next_fast_len(n, real=True) for n in dims)
    item = float_itemsize(case)
    valid = (hp - kh + 1) * (wp - kw + 1) * item
    return (
        3 * _spectrum_bytes(fast, item)
        + math.prod(fast) * item
        + valid
        + cast_bytes(case)
        + padded_bytes(case)
        + output_bytes(case)
    )


@register(
    "fft",
    family="fft",
    origin="seed 000: the study's 'FFT conv' (fftconvolve valid, then [::s]), kernel flipped",
    estimate_bytes=_fft_bytes,
    summary="2D + depth, any stride/padding; all stride-1 outputs by FFT, then [::s]",
)
def fft(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """``fftconvolve(padded, flipped kernel, 'valid')`` sub-sampled by the stride.

    Convolution flips its kernel, so correlating needs the kernel reversed along EVERY axis,
    depth included (the study forgot the flip). Integers are computed in float64 and rounded
    back. Cost: O(P log P) for P = (Hp+kh)(Wp+kw)(2C), whatever the stride.
    """
    work = float_dtype(x.dtype)
    padded = pad_zeros(x, padding).astype(work, copy=False)
    flipped = kernel[(slice(None, None, -1),) * kernel.ndim].astype(work, copy=False)
    full = fftconvolve(padded, flipped, mode="valid")
    if full.ndim == 3:
        full = full[..., 0]
    return round_back(full[:: stride[0], :: stride[1]], x.dtype)


def _grid_lengths(case: Case) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Per axis: input phase-grid length, kernel phase-grid length, FFT length."""
    (hp, wp), (kh, kw), (sh, sw) = case.padded_size, case.kernel_size, case.stride
    nx = (-(-hp // sh), -(-wp // sw))
    nk = (-(-kh // sh), -(-kw // sw))
    fast = (scipy.fft.next_fast_len(nx[0], real=True), scipy.fft.next_fast_len(nx[1], real=True))
    return nx, nk, fast


def _polyphase_bytes(case: Case) -> int:
    # Folded input and kernel (zero-filled to whole stride multiples), their spectra over the
    # (phase, channel)-stacked grids, the conjugated kernel spectrum, the summed spectrum, result.
    nx, nk, fast = _grid_lengths(case)
    (sh, sw), c, item = case.stride, case.channels, float_itemsize(case)
    folded = (nx[0] * nx[1] + nk[0] * nk[1]) * sh * sw * c * item
    spectrum = fast[0] * (fast[1] // 2 + 1) * 2 * item
    return (
        folded
        + 3 * spectrum * sh * sw * c
        + spectrum
        + fast[0] * fast[1] * item
        + cast_bytes(case)
        + padded_bytes(case)
        + output_bytes(case)
    )


def _fold(a: np.ndarray, grid: Pair, stride: Pair, dtype: np.dtype) -> np.ndarray:
    """Zero-fill ``a`` to (grid * stride) and fold it into (gh, sh, gw, sw, C) phase grids.

    ``folded[u, r, v, t, c] == a[u*sh + r, v*sw + t, c]``: grid (r, t) holds the values at
    offset (r, t) modulo the stride.
    """
    (gh, gw), (sh, sw) = grid, stride
    filled = np.zeros((gh * sh, gw * sw, a.shape[2]), dtype=dtype)
    filled[: a.shape[0], : a.shape[1]] = a
    return filled.reshape(gh, sh, gw, sw, a.shape[2])


@register(
    "fft-polyphase",
    family="fft",
    origin="seed 000: the answer folding the strides out of both operands, cropped correctly",
    estimate_bytes=_polyphase_bytes,
    summary="2D + depth, any stride/padding; FFT-correlates phase grids, only strided outputs",
)
def fft_polyphase(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Polyphase FFT correlation that computes only the strided outputs.

    With kernel tap ``a = p*sh + r``, ``out[i] = sum_r sum_p X_r[i + p] * K_r[p]`` where
    ``X_r[u] = padded[u*sh + r]`` and ``K_r[p] = kernel[p*sh + r]`` (likewise along W): a stride-1
    correlation of each (r, t) phase pair at 1/s**2 of the resolution. All pairs and channels
    are transformed at once and summed in the frequency domain (one inverse FFT). A circular
    correlation of the grid length is exact for the valid outputs, which are then cropped to
    (Ho, Wo): the published form returned the uncropped grid with wrapped garbage.
    Cost: O(Hp*Wp*C log) regardless of the kernel size.
    """
    work = float_dtype(x.dtype)
    case_like = Case(
        input_size=x.shape[:2],
        kernel_size=kernel.shape[:2],
        stride=stride,
        padding=padding,
    )
    nx, nk, fast = _grid_lengths(case_like)
    ho, wo = case_like.output_size
    padded = pad_zeros(x, padding)
    as3d = (lambda a: a) if x.ndim == 3 else (lambda a: a[..., None])
    xf = scipy.fft.rfft2(_fold(as3d(padded), nx, stride, work), s=fast, axes=(0, 2))
    kf = scipy.fft.rfft2(_fold(as3d(kernel), nk, stride, work), s=fast, axes=(0, 2))
    summed = np.einsum("urvtc,urvtc->uv", xf, kf.conj())
    out = scipy.fft.irfft2(summed, s=fast, axes=(0, 1))
    return round_back(out[:ho, :wo], x.dtype)

"""FFT methods: the study's fftconvolve, and the polyphase answer that folds the stride out."""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
from scipy.signal import fftconvolve

from ..cases import Case, Pair
from ._common import (
    CALL_BYTES,
    cast_bytes,
    float_dtype,
    float_itemsize,
    pad_zeros,
    padded_bytes,
    round_back,
)
from .registry import register


def _spectrum_bytes(real_shape: tuple[int, ...], itemsize: int) -> int:
    """Bytes of the rfftn of a real array of ``real_shape`` (last axis halved, complex)."""
    return math.prod(real_shape[:-1]) * (real_shape[-1] // 2 + 1) * 2 * itemsize


def fftconvolve_bytes(case: Case, *, cast_inside: bool = False) -> int:
    """Peak of ``fftconvolve(padded, kernel, 'valid')`` and rounding its sub-sampled result.

    When the inverse runs, both spectra, their product, a spectrum-sized scratch of the inverse
    (native, pocketfft's) and the full real result are alive: ``4 S + R`` at the fast lengths of
    ``(Hp + kh - 1, Wp + kw - 1[, 2C - 1])``. Then the valid crop; integers are rounded back
    (one float and one int copy of the result). ``cast_inside``: integers reach scipy as they
    are (``scipy.signal.correlate``), which rounds the valid result once more itself.
    """
    (hp, wp), (kh, kw), (ho, wo) = case.padded_size, case.kernel_size, case.output_size
    dims = [hp + kh - 1, wp + kw - 1] + ([2 * case.depth - 1] if case.depth else [])
    fast = tuple(scipy.fft.next_fast_len(n, real=True) for n in dims)
    item = float_itemsize(case)
    valid = (hp - kh + 1) * (wp - kw + 1) * item
    spectrum, real = _spectrum_bytes(fast, item), math.prod(fast) * item
    moments = [4 * spectrum + real, real + valid]
    if np.dtype(case.dtype).kind in "iu":
        moments += [valid + 2 * ho * wo * 8] + ([2 * valid] if cast_inside else [])
    return max(moments)


def _fft_bytes(case: Case) -> int:
    # Integers: only the float64 copies stay bound (the padded integer copy is dropped at once).
    operands = cast_bytes(case) if np.dtype(case.dtype).kind in "iu" else padded_bytes(case)
    return fftconvolve_bytes(case) + operands + CALL_BYTES


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
    # The largest of: transforming the folded input (it, the zero-padded copy rfft2 makes when
    # the grid is shorter than the fast lengths, its spectrum S over every phase and channel);
    # transforming the folded kernel (S, the kernel's copy padded to the fast lengths, its S);
    # the einsum (both S, the conjugated kernel spectrum, the summed plane); the inverse (both S
    # still bound, the sum, the inverse's native scratch, the real result); integers rounded.
    nx, nk, fast = _grid_lengths(case)
    (sh, sw), c, item = case.stride, case.channels, float_itemsize(case)
    (ho, wo), phases = case.output_size, sh * sw * c
    folded_x, folded_k = nx[0] * nx[1] * phases * item, nk[0] * nk[1] * phases * item
    padded_real = fast[0] * fast[1] * phases * item
    plane = fast[0] * (fast[1] // 2 + 1) * 2 * item
    spectrum = plane * phases
    real = fast[0] * fast[1] * item
    rounded = 2 * ho * wo * 8 if np.dtype(case.dtype).kind in "iu" else 0
    moments = [
        folded_x + (padded_real if tuple(nx) != tuple(fast) else 0) + spectrum,
        2 * spectrum + folded_k + padded_real,
        3 * spectrum + plane,
        2 * spectrum + 2 * plane + real,
        2 * spectrum + plane + real + rounded,
    ]
    return max(moments) + padded_bytes(case) + CALL_BYTES


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

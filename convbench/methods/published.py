"""The study's published forms that are wrong, reproduced so tests and the report can show it.

None of these is registered: they break the contract on purpose. Each takes the plain
arguments ``(x, kernel, stride)`` of the seed answers (no padding) and returns what the published
code computes.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy.signal import fftconvolve


def fft_unflipped(x: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """The study's "FFT conv": ``fftconvolve(x, kernel, 'valid')[::s, ::s]`` with no kernel flip.

    That is a convolution, i.e. a correlation with the kernel rotated by 180°, so it equals the
    correlation only for kernels with ``kernel == kernel[::-1, ::-1(, ::-1)]``. With depth the
    valid result has one plane along C, which is dropped.
    """
    out = fftconvolve(np.asarray(x, float), np.asarray(kernel, float), mode="valid")
    out = out[::stride, ::stride]
    return out[..., 0] if out.ndim == 3 else out


def fft_flip_spatial_only(x: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """The natural fix for depth that is still wrong: flip kh and kw, but not the depth axis.

    ``fftconvolve`` over three axes also convolves along C, so the depth axis needs its flip
    too; without it channel c meets kernel channel C-1-c.
    """
    return fft_unflipped(x, np.asarray(kernel)[::-1, ::-1], stride)


def fft_flipped_subsampled(x: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """The answer said to "only work for odd kernels": flipped fftconvolve 'valid', then [::s].

    Correct for every kernel size: 'valid' mode aligns the output on the first full overlap,
    whatever the parity of the kernel. (Centring arguments about odd kernels apply to 'same'.)
    """
    return fft_unflipped(x, np.asarray(kernel)[::-1, ::-1], stride)


def polyphase_uncropped(x: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """The polyphase FFT answer as published: the whole circular grid, not cropped to (Ho, Wo).

    Both operands are zero-filled to whole stride multiples plus the kernel's size, folded into
    (grid, stride) phase axes, correlated by FFT per phase and summed. Its top-left (Ho, Wo)
    block is the answer; the remaining rows and columns are wrap-around and partial overlaps.
    """
    x = np.asarray(x, float)
    kernel = np.asarray(kernel, float)
    s = stride
    xh, xw = (-(-n // s) * s for n in x.shape)
    kh, kw = (-(-n // s) * s for n in kernel.shape)
    size = (xh + kh, xw + kw)
    xp = np.zeros(size)
    kp = np.zeros(size)
    xp[: x.shape[0], : x.shape[1]] = x
    kp[: kernel.shape[0], : kernel.shape[1]] = kernel
    grid = (size[0] // s, s, size[1] // s, s)
    xf = scipy.fft.fft2(xp.reshape(grid), axes=(0, 2))
    kf = scipy.fft.fft2(kp.reshape(grid), axes=(0, 2))
    return scipy.fft.ifft2(xf * kf.conj(), axes=(0, 2)).sum(axis=(1, 3)).real

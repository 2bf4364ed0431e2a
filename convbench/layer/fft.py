"""FFT layer: stride folded into channels (polyphase), channel sum done in the frequency domain."""

from __future__ import annotations

import numpy as np
import scipy.fft

from ..cases import Case, Pair
from ._shapes import output_bytes, output_hw, pad
from .registry import LAYER


def _grid(case: Case) -> tuple[int, int, int, int]:
    """(Hq, Wq, kqh, kqw): the stride-phase grid and the per-phase kernel size."""
    (hp, wp), (kh, kw), (sh, sw) = case.padded_size, case.kernel_size, case.stride
    ho, wo = case.output_size
    kqh, kqw = -(-kh // sh), -(-kw // sw)
    return max(-(-hp // sh), ho + kqh - 1), max(-(-wp // sw), wo + kqw - 1), kqh, kqw


def space_to_depth(
    xp: np.ndarray, w: np.ndarray, stride: Pair, grid: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Rewrite a strided correlation as a stride-1 one with sh*sw times the channels.

    Input phase (a, b) is ``xp[:, a::sh, b::sw]`` and kernel phase (a, b) is ``w[a::sh, b::sw]``;
    both are zero-filled to the common grid, and the phases are stacked on the channel axis.
    Returns xq (N, Hq, Wq, sh*sw*C) and wq (kqh, kqw, sh*sw*C, F).
    """
    sh, sw = stride
    if stride == (1, 1):
        return xp, w
    n, _, _, c = xp.shape
    f = w.shape[3]
    hq, wq, kqh, kqw = grid
    xq = np.zeros((n, hq, wq, sh, sw, c), dtype=xp.dtype)
    wk = np.zeros((kqh, kqw, sh, sw, c, f), dtype=w.dtype)
    for a in range(sh):
        for b in range(sw):
            part = xp[:, a::sh, b::sw, :]
            xq[:, : part.shape[1], : part.shape[2], a, b, :] = part[:, :hq, :wq, :]
            taps = w[a::sh, b::sw]
            wk[: taps.shape[0], : taps.shape[1], a, b] = taps
    return xq.reshape(n, hq, wq, sh * sw * c), wk.reshape(kqh, kqw, sh * sw * c, f)


def _fft_bytes(case: Case) -> int:
    hq, wq, _, _ = _grid(case)
    hq, wq = scipy.fft.next_fast_len(hq, real=True), scipy.fft.next_fast_len(wq, real=True)
    n, f = max(case.batch, 1), max(case.filters, 1)
    cq = case.channels * case.stride[0] * case.stride[1]
    bins = hq * (wq // 2 + 1) * 2 * case.itemsize  # one complex spectrum
    real = n * hq * wq * cq * case.itemsize
    return (
        real
        + bins * (n * cq + cq * f + 2 * n * f)
        + n * hq * wq * f * case.itemsize
        + (output_bytes(case))
    )


def _fft_supports(case: Case) -> str | None:
    if np.dtype(case.dtype).kind in "iu":
        return "FFT rounding cannot give exact integer results"
    return None


@LAYER.register(
    "fft-layer",
    family="fft",
    origin="convbench",
    estimate_bytes=_fft_bytes,
    supports=_fft_supports,
    summary="rfft2 of input and filters, (N, C) @ (C, F) per frequency, irfft2; floats only",
)
def fft_layer(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Correlate via the FFT: ``irfft2(X @ conj(W))`` where the matmul sums channels per frequency.

    Stride is folded into channels first (:func:`space_to_depth`), so no discarded outputs are
    computed. Cost: N*C' + C'*F forward and N*F inverse FFTs of size Hq*Wq, plus a complex
    (N, C') @ (C', F) product per frequency, C' = sh*sw*C; independent of the kernel size.
    """
    xp = pad(x, padding)
    kh, kw = w.shape[:2]
    ho, wo = output_hw(xp.shape[1:3], (kh, kw), stride)
    case = Case(xp.shape[1:3], (kh, kw), x.shape[3], stride, (0, 0), x.dtype.name)
    grid = _grid(case)
    xq, wq = space_to_depth(xp, w, stride, grid)
    # Any size >= the phase grid gives the same valid outputs (nothing wraps into them), so use
    # the next 2-3-5-7-smooth one: 226 = 2 * 113 took 3.5 s where 231 takes a fraction of that.
    shape = (
        scipy.fft.next_fast_len(grid[0], real=True),
        scipy.fft.next_fast_len(grid[1], real=True),
    )
    spec_x = scipy.fft.rfft2(xq, s=shape, axes=(1, 2))  # (N, Hq, Wb, C')
    spec_w = scipy.fft.rfft2(wq, s=shape, axes=(0, 1))  # (Hq, Wb, C', F)
    # Correlation is convolution with the conjugate spectrum; the matmul sums the C' channels
    # for every frequency at once: (Hq, Wb, N, C') @ (Hq, Wb, C', F).
    spec_y = np.matmul(spec_x.transpose(1, 2, 0, 3), spec_w.conj())
    y = scipy.fft.irfft2(spec_y, s=shape, axes=(0, 1))  # (Hq, Wq, N, F)
    return np.ascontiguousarray(y[:ho, :wo].transpose(2, 0, 1, 3), dtype=x.dtype)

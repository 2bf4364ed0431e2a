"""Library calls a user would reach for: scipy's correlators and (optionally) torch."""

from __future__ import annotations

import importlib.util

import numpy as np
from scipy.signal import choose_conv_method, correlate, correlate2d

from ..cases import Case, Pair
from ._common import (
    CALL_BYTES,
    cast_bytes,
    float_itemsize,
    output_bytes,
    pad_zeros,
    padded_bytes,
    round_back,
    torch_ready,
)
from .registry import register


def _full_valid_bytes(case: Case) -> int:
    # The stride-1 valid result of one channel and its sub-sampled copy; with depth the running
    # total, and the previous channel's result is still alive while the next is computed.
    (hp, wp), (kh, kw) = case.padded_size, case.kernel_size
    full = (hp - kh + 1) * (wp - kw + 1) * case.itemsize
    planes = 2 if case.depth >= 2 else 1
    return planes * full + output_bytes(case) + padded_bytes(case) + CALL_BYTES


@register(
    "correlate2d",
    family="library",
    origin="seed 000: the signal.convolve2d answer, as correlate2d (no flip), then [::s]",
    estimate_bytes=_full_valid_bytes,
    summary="2D + depth (one call per channel), any stride/padding; direct, all stride-1 outputs",
)
def scipy_correlate2d(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """``scipy.signal.correlate2d(padded[..., c], kernel[..., c], 'valid')[::sh, ::sw]`` summed.

    Cost: (Hp-kh+1)(Wp-kw+1)*kh*kw*C multiply-adds in C, whatever the stride.
    """
    padded = pad_zeros(x, padding)
    if x.ndim == 2:
        return correlate2d(padded, kernel, mode="valid")[:: stride[0], :: stride[1]].copy()
    total = None
    for c in range(x.shape[2]):
        plane = correlate2d(padded[..., c], kernel[..., c], mode="valid")[
            :: stride[0], :: stride[1]
        ]
        total = plane.copy() if total is None else total + plane
    return total


def _scipy_auto_bytes(case: Case) -> int:
    # What scipy picks for these shapes (its choice depends on shapes only, for the small
    # integers of a benchmark too), asked on zero-strided stand-ins that allocate nothing.
    from .fft import fftconvolve_bytes

    def stand_in(shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(np.zeros((), dtype=case.dtype), shape)

    depth = (case.depth,) if case.depth else ()
    how = choose_conv_method(
        stand_in(case.padded_size + depth), stand_in(case.kernel_size + depth), mode="valid"
    )
    (hp, wp), (kh, kw), (ho, wo) = case.padded_size, case.kernel_size, case.output_size
    if how == "fft":  # scipy makes float64 copies of integer operands itself
        core = fftconvolve_bytes(case, cast_inside=True) + cast_bytes(case)
    else:  # the valid result in the input dtype; integers rounded back from it
        valid = (hp - kh + 1) * (wp - kw + 1) * case.itemsize
        core = valid + (2 * ho * wo * 8 if np.dtype(case.dtype).kind in "iu" else 0)
    return core + padded_bytes(case) + CALL_BYTES


@register(
    "scipy-auto",
    family="library",
    origin="scipy.signal.correlate(method='auto'): what a user would pick instead",
    estimate_bytes=_scipy_auto_bytes,
    summary="2D + depth, any stride/padding; scipy picks direct or FFT, then [::s]",
)
def scipy_auto(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """``scipy.signal.correlate(padded, kernel, 'valid', method='auto')[::sh, ::sw]``.

    scipy chooses direct or FFT by its own cost model (integers stay exact either way); with
    depth the valid correlation over C has a single plane.
    """
    full = correlate(pad_zeros(x, padding), kernel, mode="valid", method="auto")
    if full.ndim == 3:
        full = full[..., 0]
    return round_back(full[:: stride[0], :: stride[1]], x.dtype)


def _register_torch() -> None:
    # Registered when torch is installed, but imported on first call: importing torch costs
    # seconds, which every `convbench` command would otherwise pay.
    if importlib.util.find_spec("torch") is None:
        return

    def torch_bytes(case: Case) -> int:
        # NCHW float copies of both operands (torch pads its own copy) and the result, plus
        # the unfolded patch matrix torch's CPU convolution may build (Ho*Wo*kh*kw*C).
        (hp, wp), (kh, kw), (ho, wo) = case.padded_size, case.kernel_size, case.output_size
        item = float_itemsize(case)
        operands = (2 * hp * wp + kh * kw) * case.channels * item
        patches = ho * wo * kh * kw * case.channels * item
        return operands + patches + 2 * output_bytes(case, item) + CALL_BYTES

    @register(
        "torch",
        family="library",
        origin="seed 000: the answer using torch.nn.functional.conv2d (CPU)",
        estimate_bytes=torch_bytes,
        summary="2D + depth, any stride/padding; F.conv2d in NCHW, ints via float64 (optional)",
    )
    def torch_conv2d(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
        """``torch.nn.functional.conv2d`` on (1, C, H, W) and (1, C, kh, kw) CPU tensors.

        conv2d is a cross-correlation, so no flip. Integers are computed in float64 and
        rounded back (exact while sums stay below 2**53); float32 stays float32.
        """
        import torch

        work = np.float64 if x.dtype.kind in "iu" else x.dtype
        as3d = (lambda a: a) if x.ndim == 3 else (lambda a: a[..., None])
        image = torch.from_numpy(torch_ready(as3d(x).transpose(2, 0, 1), work))
        weight = torch.from_numpy(torch_ready(as3d(kernel).transpose(2, 0, 1), work))
        with torch.no_grad():
            out = torch.nn.functional.conv2d(
                image[None], weight[None], stride=stride, padding=padding
            )
        return round_back(out[0, 0].numpy(), x.dtype)


_register_torch()

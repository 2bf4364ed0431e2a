"""torch's CPU conv2d, fed our NHWC/HWIO arrays (layout conversion included in the call)."""

from __future__ import annotations

import importlib.util

import numpy as np

from ..cases import Case, Pair
from ..methods._common import torch_ready
from ._shapes import output_bytes
from .registry import LAYER


def _torch_bytes(case: Case) -> int:
    kh, kw = case.kernel_size
    weight = kh * kw * case.channels * max(case.filters, 1) * case.itemsize
    return weight + 2 * output_bytes(case)


def _torch_supports(case: Case) -> str | None:
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed"
    if np.dtype(case.dtype).kind != "f":
        return "torch conv2d on CPU takes float32 or float64 only"
    return None


@LAYER.register(
    "torch-conv2d",
    family="library",
    origin="torch.nn.functional.conv2d",
    estimate_bytes=_torch_bytes,
    supports=_torch_supports,
    summary="torch conv2d on a zero-copy channels_last view of x, w permuted to OIHW",
)
def torch_conv2d(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """``torch.nn.functional.conv2d`` with NHWC data passed as a channels_last NCHW view.

    An NHWC array permuted to NCHW *is* torch's channels_last layout, so the input is not copied;
    the weight is permuted HWIO -> OIHW and the channels_last output permuted back to NHWC.
    """
    import torch

    xt = torch.from_numpy(torch_ready(x)).permute(0, 3, 1, 2)
    wt = torch.from_numpy(torch_ready(w)).permute(3, 2, 0, 1)
    with torch.no_grad():
        out = torch.nn.functional.conv2d(xt, wt, stride=stride, padding=padding)
    return np.ascontiguousarray(out.permute(0, 2, 3, 1).numpy())

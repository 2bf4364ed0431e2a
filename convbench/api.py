"""The public entry point: argument checks, normalisation, dispatch to a method."""

from __future__ import annotations

import numpy as np

from .cases import Case, Pair, as_pair

_SIGNED = np.dtype(np.int64)


def compute_dtype(x: np.ndarray, kernel: np.ndarray) -> np.dtype:
    """The dtype a method computes and returns: int64 for integers (exact), float32 or float64.

    Raises
    ------
    ValueError
        If either array is not of an integer or real floating dtype (bool, complex, object...).
    """
    for name, a in (("x", x), ("kernel", kernel)):
        if a.dtype.kind not in "iuf":
            raise ValueError(f"{name} must have an integer or real floating dtype, got {a.dtype}")
    common = np.result_type(x.dtype, kernel.dtype)
    if common.kind in "iu":
        return _SIGNED
    return np.dtype(np.float32) if common.itemsize <= 4 else np.dtype(np.float64)


def check_stride_padding(stride: int | Pair, padding: int | Pair) -> tuple[Pair, Pair]:
    """``(stride, padding)`` as pairs; ValueError naming the argument unless stride >= 1 and
    padding >= 0."""
    stride = as_pair(stride, "stride")
    padding = as_pair(padding, "padding")
    if min(stride) < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if min(padding) < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    return stride, padding


def normalize(
    x: np.ndarray, kernel: np.ndarray, stride: int | Pair, padding: int | Pair
) -> tuple[np.ndarray, np.ndarray, Pair, Pair, Case]:
    """Check and normalise the arguments of :func:`correlate`.

    Returns ``(x, kernel, stride, padding, case)`` with both arrays in the compute dtype.

    Raises
    ------
    ValueError
        Naming the argument that is wrong.
    """
    x = np.asarray(x)
    kernel = np.asarray(kernel)
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be 2D (H, W) or 3D (H, W, C), got shape {x.shape}")
    if kernel.ndim != x.ndim:
        raise ValueError(
            f"kernel must have as many dimensions as x ({x.ndim}), got shape {kernel.shape}"
        )
    if x.ndim == 3 and kernel.shape[2] != x.shape[2]:
        raise ValueError(f"kernel depth {kernel.shape[2]} does not match x depth {x.shape[2]}")
    if min(x.shape) < 1 or min(kernel.shape) < 1:
        raise ValueError(f"x and kernel must not be empty, got {x.shape} and {kernel.shape}")
    stride, padding = check_stride_padding(stride, padding)
    dtype = compute_dtype(x, kernel)
    case = Case(
        input_size=(x.shape[0], x.shape[1]),
        kernel_size=(kernel.shape[0], kernel.shape[1]),
        depth=x.shape[2] if x.ndim == 3 else 0,
        stride=stride,
        padding=padding,
        dtype=dtype.name,
    )
    if not case.feasible:
        raise ValueError(
            f"kernel {kernel.shape[:2]} is larger than the padded input {case.padded_size}"
        )
    return x.astype(dtype, copy=False), kernel.astype(dtype, copy=False), stride, padding, case


def correlate(
    x: np.ndarray,
    kernel: np.ndarray,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
    method: str = "auto",
) -> np.ndarray:
    """Valid, strided, zero-padded cross-correlation (no kernel flip).

    Parameters
    ----------
    x : (H, W) or (H, W, C) array
    kernel : (kh, kw) or (kh, kw, C) array; the depth C is summed over.
    stride : int or (sh, sw)
    padding : int or (ph, pw) zeros on each side.
    method : a name from :func:`convbench.available_methods`.

    Returns
    -------
    (1 + (H + 2 ph - kh) // sh, 1 + (W + 2 pw - kw) // sw) array; int64 for integer inputs
    (exact), float32 for float32 inputs, else float64.

    Raises
    ------
    ValueError
        On invalid arguments (naming the argument) or an unknown method.
    convbench.Unsupported
        If ``method`` cannot handle this case.
    """
    from .methods import get_method

    chosen = get_method(method)
    x, kernel, stride, padding, case = normalize(x, kernel, stride, padding)
    chosen.check(case)
    return chosen.func(x, kernel, stride, padding)

"""Layer mode's entry points: argument checks, inputs for a case, the reference, dispatch."""

from __future__ import annotations

import numpy as np

from ..api import check_stride_padding, compute_dtype
from ..cases import Case, Pair, random_operands
from ..methods.registry import Method
from ._shapes import output_hw, pad
from .registry import LAYER


def normalize_layer(
    x: np.ndarray, w: np.ndarray, stride: int | Pair, padding: int | Pair
) -> tuple[np.ndarray, np.ndarray, Pair, Pair, Case]:
    """Check and normalise the arguments of :func:`conv2d_layer`.

    Returns ``(x, w, stride, padding, case)`` with both arrays in the compute dtype
    (int64 for integers, float32 when both are at most 32-bit floats, else float64).

    Raises
    ------
    ValueError
        Naming the argument that is wrong.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    for name, a in (("x", x), ("w", w)):
        if a.dtype.kind not in "iuf":
            raise ValueError(f"{name} must have an integer or real floating dtype, got {a.dtype}")
    if x.ndim != 4:
        raise ValueError(f"x must be 4D (N, H, W, C), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"w must be 4D (kh, kw, C, F), got shape {w.shape}")
    if w.shape[2] != x.shape[3]:
        raise ValueError(f"w has {w.shape[2]} input channels but x has {x.shape[3]}")
    if min(x.shape) < 1 or min(w.shape) < 1:
        raise ValueError(f"x and w must not be empty, got {x.shape} and {w.shape}")
    stride, padding = check_stride_padding(stride, padding)
    dtype = compute_dtype(x, w)
    case = Case(
        input_size=(x.shape[1], x.shape[2]),
        kernel_size=(w.shape[0], w.shape[1]),
        depth=x.shape[3],
        stride=stride,
        padding=padding,
        dtype=dtype.name,
        batch=x.shape[0],
        filters=w.shape[3],
    )
    if not case.feasible:
        raise ValueError(f"w's window {w.shape[:2]} is larger than the padded x {case.padded_size}")
    return x.astype(dtype, copy=False), w.astype(dtype, copy=False), stride, padding, case


def registered() -> dict[str, Method]:
    """Every layer method, in registration order (``loops`` first)."""
    return LAYER.registered()


def available_layer_methods() -> list[str]:
    """Names of every layer method, in a stable order."""
    return list(registered())


def get_layer_method(name: str) -> Method:
    """The layer method called ``name``.

    Raises
    ------
    ValueError
        If no layer method has that name; the message lists the known ones.
    """
    methods = registered()
    if name not in methods:
        raise ValueError(f"unknown layer method {name!r}; known: {', '.join(methods)}")
    return methods[name]


def conv2d_layer(
    x: np.ndarray,
    w: np.ndarray,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
    method: str = "auto",
) -> np.ndarray:
    """A convolutional layer: batched, multi-filter, strided, zero-padded cross-correlation.

    Parameters
    ----------
    x : (N, H, W, C) array (NHWC).
    w : (kh, kw, C, F) array (HWIO); not flipped.
    stride : int or (sh, sw)
    padding : int or (ph, pw) zeros on each side of H and W.
    method : a name from :func:`available_layer_methods`.

    Returns
    -------
    (N, Ho, Wo, F) array with ``Ho = 1 + (H + 2 ph - kh) // sh`` (likewise Wo); int64 for integer
    inputs (exact), float32 for float32 inputs, else float64.

    Raises
    ------
    ValueError
        On invalid arguments (naming the argument) or an unknown method.
    convbench.Unsupported
        If ``method`` cannot handle this case.
    """
    chosen = get_layer_method(method)
    x, w, stride, padding, case = normalize_layer(x, w, stride, padding)
    chosen.check(case)
    return chosen.func(x, w, stride, padding)


def make_inputs(case: Case, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random ``(x, w)`` for a layer case: x (N, H, W, C), w (kh, kw, C, F)
    (see :func:`convbench.cases.random_operands`)."""
    xs = (max(case.batch, 1), *case.input_size, case.channels)
    ws = (*case.kernel_size, case.channels, max(case.filters, 1))
    return random_operands(xs, ws, case.dtype, rng)


def reference(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """An independent, fast-enough oracle: one float64 (or exact int64) product per kernel tap.

    Sums ``x[:, i::sh, j::sw, :] . w[i, j]`` over the kh*kw taps with ``np.einsum`` (no BLAS
    blocking, so its rounding differs from the GEMM methods) in float64 for floats and int64 for
    integers, then casts to the input dtype. Cost: kh*kw passes over the (N, Ho, Wo, C) input.
    Arguments as for a layer method (normalised).
    """
    acc = np.int64 if x.dtype.kind in "iu" else np.float64
    xp = pad(x.astype(acc, copy=False), padding)
    wa = w.astype(acc, copy=False)
    kh, kw = w.shape[:2]
    sh, sw = stride
    ho, wo = output_hw(xp.shape[1:3], (kh, kw), stride)
    out = np.zeros((x.shape[0], ho, wo, w.shape[3]), dtype=acc)
    for i in range(kh):
        for j in range(kw):
            tap = xp[:, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw, :]
            out += np.einsum("nhwc,cf->nhwf", tap, wa[i, j])
    return out.astype(x.dtype, copy=False)

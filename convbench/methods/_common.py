"""Small helpers the method modules share: zero padding, window views, rounding back, sizes.

Every helper takes the already-normalised arguments of the method contract (see
:mod:`convbench.methods.registry`) and allocates nothing it does not say it does.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..cases import Case, Pair


def pad_zeros(x: np.ndarray, padding: Pair) -> np.ndarray:
    """``x`` with ``padding`` zeros on each side of its first two axes.

    Returns ``x`` itself (no copy) when the padding is zero, else a new
    (H + 2 ph, W + 2 pw[, C]) array of the same dtype.
    """
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    out = np.zeros((x.shape[0] + 2 * ph, x.shape[1] + 2 * pw, *x.shape[2:]), dtype=x.dtype)
    out[ph : ph + x.shape[0], pw : pw + x.shape[1]] = x
    return out


def output_size(padded: np.ndarray, kernel: np.ndarray, stride: Pair) -> Pair:
    """(1 + (Hp - kh) // sh, 1 + (Wp - kw) // sw) for an already padded input."""
    return (
        1 + (padded.shape[0] - kernel.shape[0]) // stride[0],
        1 + (padded.shape[1] - kernel.shape[1]) // stride[1],
    )


def window_view(padded: np.ndarray, kernel_shape: tuple[int, ...], stride: Pair) -> np.ndarray:
    """Read-only view of every strided window: shape (Ho, Wo, kh, kw[, C]), no copy.

    Window ``[i, j]`` is ``padded[i*sh : i*sh + kh, j*sw : j*sw + kw]``. Any arithmetic on the
    whole view (``view * kernel``) materialises Ho*Wo*kh*kw*C values.
    """
    kh, kw = kernel_shape[:2]
    ho, wo = 1 + (padded.shape[0] - kh) // stride[0], 1 + (padded.shape[1] - kw) // stride[1]
    s0, s1 = padded.strides[:2]
    return as_strided(
        padded,
        shape=(ho, wo, kh, kw, *padded.shape[2:]),
        strides=(stride[0] * s0, stride[1] * s1, s0, s1, *padded.strides[2:]),
        writeable=False,
    )


def strided_slice(padded: np.ndarray, offset: Pair, out_size: Pair, stride: Pair) -> np.ndarray:
    """View of the input values that kernel tap ``offset`` meets at every strided output.

    Shape (Ho, Wo[, C]): ``padded[a + i*sh, b + j*sw]`` for ``(a, b) = offset``.
    """
    a, b = offset
    return padded[
        a : a + stride[0] * (out_size[0] - 1) + 1 : stride[0],
        b : b + stride[1] * (out_size[1] - 1) + 1 : stride[1],
    ]


def float_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype to compute in: float64 for integers (exact up to 2**53), else ``dtype``."""
    return np.dtype(np.float64) if dtype.kind in "iu" else dtype


def round_back(result: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``result`` (real part) in ``dtype``; integers are rounded to nearest first (exact)."""
    result = np.real(result)
    if dtype.kind in "iu":
        return np.rint(result).astype(dtype)
    return result.astype(dtype, copy=False)


# --- memory estimates (bytes) ----------------------------------------------------------------

#: Python objects one call creates besides its arrays (array headers, views, iterator and einsum
#: state, index tuples): measured at 1-9 KiB whatever the size; every estimate adds this much.
CALL_BYTES = 12 * 1024
#: Elements of numpy's buffer for a ufunc or reduction over non-contiguous operands (per operand).
BUFFER_ELEMENTS = 8192
#: numpy's iterator buffers a reduction over several axes (up to 8192 elements per operand);
#: measured at 40-110 KiB depending on the shapes, so budget a fixed 128 KiB.
REDUCTION_BUFFERS = 128 * 1024
#: The resident-set figure counts whole pages.
PAGE_BYTES = 4096
#: An allocator's header in front of a buffer (glibc's 16 bytes, numba's meminfo and alignment).
HEADER_BYTES = 128


def in_pages(nbytes: int) -> int:
    """The most resident memory one ``nbytes`` buffer can add: every page it and its header touch.

    A buffer that does not start on a page boundary touches one page more than its size needs.
    """
    return (-(-(nbytes + HEADER_BYTES) // PAGE_BYTES) + 1) * PAGE_BYTES


def padded_bytes(case: Case, itemsize: int | None = None) -> int:
    """Bytes of the zero-padded copy of the input (0 when there is no padding)."""
    if case.padding == (0, 0):
        return 0
    hp, wp = case.padded_size
    return hp * wp * case.channels * (itemsize or case.itemsize)


def output_bytes(case: Case, itemsize: int | None = None) -> int:
    """Bytes of the (Ho, Wo) result."""
    ho, wo = case.output_size
    return ho * wo * (itemsize or case.itemsize)


def windows_bytes(case: Case, itemsize: int | None = None) -> int:
    """Bytes of every strided window materialised: Ho*Wo*kh*kw*C values."""
    ho, wo = case.output_size
    kh, kw = case.kernel_size
    return ho * wo * kh * kw * case.channels * (itemsize or case.itemsize)


def float_itemsize(case: Case) -> int:
    """Itemsize of the dtype FFT-style methods compute in (8 for integers)."""
    return float_dtype(np.dtype(case.dtype)).itemsize


def cast_bytes(case: Case) -> int:
    """Bytes of float64 copies of input and kernel that integer inputs need (0 for floats)."""
    if np.dtype(case.dtype).kind not in "iu":
        return 0
    hp, wp = case.padded_size
    kh, kw = case.kernel_size
    return (hp * wp + kh * kw) * case.channels * 8


def torch_ready(a: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
    """``a`` as a C-contiguous array that ``torch.from_numpy`` accepts (copied only if needed).

    numpy calls an array with a reversed length-1 axis contiguous, but its negative stride makes
    torch refuse it, so such arrays are copied too.
    """
    a = np.ascontiguousarray(a, dtype=dtype)
    return a.copy() if any(st < 0 for st in a.strides) else a

"""GEMM formulations: im2col + one GEMM, shift-GEMM (one GEMM per tap), and the operator matrix."""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas

from ..cases import Case, Pair
from ._shapes import output_bytes, output_hw, pad, padded_bytes, patches_bytes, windows
from .registry import LAYER

#: The operator matrix is dense; past this size we refuse rather than exhaust memory.
OPERATOR_LIMIT_BYTES = 2 << 30


def _im2col_bytes(case: Case) -> int:
    return padded_bytes(case) + patches_bytes(case) + output_bytes(case)


@LAYER.register(
    "im2col-gemm",
    family="gemm",
    origin="convbench (classic im2col)",
    estimate_bytes=_im2col_bytes,
    summary="copy windows into a C-order (N*Ho*Wo, kh*kw*C) patches matrix, one GEMM with w",
)
def im2col_gemm(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Patches matrix (N*Ho*Wo, kh*kw*C) @ w (kh*kw*C, F), both C-order so BLAS needs no copy.

    Cost: N*Ho*Wo*kh*kw*C values copied, then one GEMM of 2*N*Ho*Wo*kh*kw*C*F flops.
    """
    kh, kw, c, f = w.shape
    win = windows(pad(x, padding), (kh, kw), stride)
    n, ho, wo = win.shape[:3]
    # One copy of the whole 6D view: numpy merges the (kw, C) run of each window row into one
    # inner loop, which measured 1.3-6x faster than one copy per tap (C = 64 down to C = 3).
    patches = np.ascontiguousarray(win)
    out = patches.reshape(n * ho * wo, kh * kw * c) @ w.reshape(kh * kw * c, f)
    return out.reshape(n, ho, wo, f)


#: Patch-buffer bytes per block of im2col-blocked: about the L2 cache (1 MiB measured best).
IM2COL_BLOCK_BYTES = 1 << 20


def _im2col_block_rows(case_wo: int, row_values: int, itemsize: int, ho: int) -> int:
    """Output rows per block so that the (rows*Wo, kh*kw*C) buffer is ~IM2COL_BLOCK_BYTES."""
    return max(1, min(ho, IM2COL_BLOCK_BYTES // (case_wo * row_values * itemsize)))


def _im2col_blocked_bytes(case: Case) -> int:
    ho, wo = case.output_size
    kh, kw = case.kernel_size
    k = kh * kw * case.channels
    rows = _im2col_block_rows(wo, k, case.itemsize, ho)
    return padded_bytes(case) + rows * wo * k * case.itemsize + output_bytes(case)


@LAYER.register(
    "im2col-blocked",
    family="gemm",
    origin="convbench",
    estimate_bytes=_im2col_blocked_bytes,
    summary="im2col a few output rows at a time into a cache-sized buffer, one GEMM per block",
)
def im2col_blocked(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """im2col in blocks of output rows: copy their windows into a reused ~1 MiB buffer, GEMM.

    The buffer is still in cache when the GEMM reads it, and memory stays at one block instead
    of the whole (N*Ho*Wo, kh*kw*C) patches matrix. Measured 1.3-2x faster than
    ``im2col-gemm``. Cost: the same copy and flops, in N*ceil(Ho/rows) GEMM calls.
    """
    kh, kw, c, f = w.shape
    xp = pad(x, padding)
    if (kh, kw) == (1, 1) and stride == (1, 1):
        # The padded input already is the patches matrix: one GEMM, no copy.
        n, hp, wp, _ = xp.shape
        return (np.ascontiguousarray(xp).reshape(-1, c) @ w.reshape(c, f)).reshape(n, hp, wp, f)
    win = windows(xp, (kh, kw), stride)
    n, ho, wo = win.shape[:3]
    k = kh * kw * c
    weights = w.reshape(k, f)
    out = np.empty((n, ho, wo, f), dtype=x.dtype)
    rows = _im2col_block_rows(wo, k, x.dtype.itemsize, ho)
    buffer = np.empty((rows, wo, kh, kw, c), dtype=x.dtype)
    for image in range(n):
        for r in range(0, ho, rows):
            m = min(rows, ho - r)
            patches = buffer[:m]
            patches[...] = win[image, r : r + m]
            # out[image, r:r+m] is a contiguous block, so this reshape is a view written in place.
            np.matmul(patches.reshape(m * wo, k), weights, out=out[image, r : r + m].reshape(-1, f))
    return out


def _phase_grid(case_hw: tuple[int, int], kernel_hw: tuple[int, int], stride: Pair) -> Pair:
    """Size of each stride phase so that every tap's shifted read stays inside its image."""
    ho, wo = output_hw(case_hw, kernel_hw, stride)
    return ho + (kernel_hw[0] - 1) // stride[0], wo + (kernel_hw[1] - 1) // stride[1]


def _shift_bytes(case: Case) -> int:
    n, c, f = max(case.batch, 1), case.channels, max(case.filters, 1)
    hq, wq = _phase_grid(case.padded_size, case.kernel_size, case.stride)
    phases = min(case.stride[0], case.kernel_size[0]) * min(case.stride[1], case.kernel_size[1])
    copies = (
        padded_bytes(case) if case.stride == (1, 1) else phases * n * hq * wq * c * case.itemsize
    )
    accumulator = n * hq * wq * f * case.itemsize
    temporary = accumulator if np.dtype(case.dtype).kind in "iu" else 0
    return copies + accumulator + temporary + output_bytes(case)


def _phases(xp: np.ndarray, stride: Pair, grid: Pair, kernel_hw: tuple[int, int]) -> dict:
    """Contiguous (N*Hq*Wq, C) rows of each stride phase ``xp[:, a::sh, b::sw]`` (zero-filled)."""
    n, _, _, c = xp.shape
    sh, sw = stride
    hq, wq = grid
    if stride == (1, 1):
        return {(0, 0): np.ascontiguousarray(xp).reshape(n * hq * wq, c)}
    out = {}
    for a in range(min(sh, kernel_hw[0])):
        for b in range(min(sw, kernel_hw[1])):
            part = xp[:, a::sh, b::sw, :][:, :hq, :wq, :]
            phase = np.zeros((n, hq, wq, c), dtype=xp.dtype)
            phase[:, : part.shape[1], : part.shape[2], :] = part
            out[a, b] = phase.reshape(n * hq * wq, c)
    return out


@LAYER.register(
    "shift-gemm",
    family="gemm",
    origin="convbench",
    estimate_bytes=_shift_bytes,
    summary="no patches matrix: accumulate kh*kw GEMMs (rows, C) @ (C, F) over shifted flat views",
)
def shift_gemm(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Sum over taps (i, j) of one GEMM each, reading the input through a shifted flat view.

    Flatten the padded input (or, for stride > 1, each of its sh*sw stride phases) to rows of C
    values. Output pixel (ho, wo) of tap (i, j) then reads row ``q + (i//sh)*Wq + j//sw`` where
    ``q`` is the output's own row, so each tap is one contiguous (rows, C) @ (C, F) GEMM into a
    (N*Hq*Wq, F) accumulator (BLAS with beta=1, no temporary); rows past the valid output are
    computed and dropped (a (Hq*Wq)/(Ho*Wo) overhead). The rows are done in blocks of
    :data:`SHIFT_BLOCK_BYTES` of accumulator so that it stays in cache across the kh*kw taps.
    Cost: 2*N*Hq*Wq*kh*kw*C*F flops; no input copy for stride 1 without padding.
    """
    xp = pad(x, padding)
    n = xp.shape[0]
    kh, kw, _, f = w.shape
    sh, sw = stride
    ho, wo = output_hw(xp.shape[1:3], (kh, kw), stride)
    hq, wq = _phase_grid(xp.shape[1:3], (kh, kw), stride)
    rows = _phases(xp, stride, (hq, wq), (kh, kw))
    total = n * hq * wq
    taps = [
        ((i // sh) * wq + j // sw, rows[i % sh, j % sw], w[i, j])
        for i in range(kh)
        for j in range(kw)
    ]
    if x.dtype.kind in "iu":
        acc = np.zeros((total, f), dtype=x.dtype)
        for shift, src, tap in taps:
            acc[: total - shift] += src[shift:] @ tap  # integer matmul has no BLAS; exact
    else:
        acc = _shift_float(taps, total, f, x.dtype)
    return np.ascontiguousarray(acc.reshape(n, hq, wq, f)[:, :ho, :wo, :])


#: Accumulator bytes per row block of shift-gemm: about the L2 cache, measured best for float64
#: (+50% over one pass per tap, memory-bound) and neutral for float32.
SHIFT_BLOCK_BYTES = 1 << 20


def _shift_float(taps: list, total: int, f: int, dtype: np.dtype) -> np.ndarray:
    """Blocked BLAS accumulation of the taps' GEMMs into a (total, F) array."""
    gemm = blas.get_blas_funcs("gemm", dtype=dtype)
    acc = np.empty((total, f), dtype=dtype)
    block = max(1024, SHIFT_BLOCK_BYTES // (f * dtype.itemsize))
    for start in range(0, total, block):
        stop = min(start + block, total)
        beta = 0.0  # the first tap (shift 0, always full) overwrites the block
        for shift, src, tap in taps:
            m = min(stop, total - shift) - start
            if m <= 0:
                continue  # only rows past every valid output would read this tap
            # Rows are C-order, so .T is Fortran-order for BLAS: acc.T = w.T @ src.T, in place.
            gemm(
                1.0,
                tap.T,
                src[start + shift : start + shift + m].T,
                beta=beta,
                c=acc[start : start + m].T,
                overwrite_c=1,
            )
            beta = 1.0
    return acc


def _operator_bytes(case: Case) -> int:
    hp, wp = case.padded_size
    ho, wo = case.output_size
    operator = hp * wp * case.channels * ho * wo * max(case.filters, 1) * case.itemsize
    return padded_bytes(case) + operator + output_bytes(case)


def _operator_supports(case: Case) -> str | None:
    need = _operator_bytes(case)
    if need > OPERATOR_LIMIT_BYTES:
        return f"dense operator matrix needs {need / 2**30:.1f} GiB (limit 2 GiB)"
    return None


@LAYER.register(
    "operator-matrix",
    family="gemm",
    origin="seeds 002/004 (W_K by fancy indexing)",
    estimate_bytes=_operator_bytes,
    supports=_operator_supports,
    summary="dense W_K (Hp*Wp*C, Ho*Wo*F) built by fancy indexing, one GEMM; tiny images only",
)
def operator_matrix(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Build the linear operator W_K of the layer, then ``x_flat @ W_K``.

    W_K[sh*r + dr, sw*s + ds, :, r, s, :] = w[dr, ds] for every output pixel (r, s) and tap
    (dr, ds); everything else is zero. Memory Hp*Wp*C*Ho*Wo*F values (mostly zeros); cost one
    GEMM of 2*N*Hp*Wp*C*Ho*Wo*F flops, far above the direct definition.
    """
    xp = pad(x, padding)
    n, hp, wp, c = xp.shape
    kh, kw, _, f = w.shape
    sh, sw = stride
    ho, wo = output_hw((hp, wp), (kh, kw), stride)
    operator = np.zeros((hp, wp, c, ho, wo, f), dtype=x.dtype)
    r, s = np.mgrid[:ho, :wo][..., None, None]
    dr, ds = np.mgrid[:kh, :kw]
    # The advanced indices are split by a slice, so numpy puts their (ho, wo, kh, kw) shape first
    # and the sliced (C, F) axes last: exactly w's trailing axes, broadcast over (ho, wo).
    operator[sh * r + dr, sw * s + ds, :, r, s, :] = w
    out = xp.reshape(n, hp * wp * c) @ operator.reshape(hp * wp * c, ho * wo * f)
    return out.reshape(n, ho, wo, f)

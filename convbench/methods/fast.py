"""Stride- and depth-aware methods: compute only the strided outputs, contract depth with BLAS.

The study's methods compute every stride-1 output and sub-sample afterwards, and FFT over the depth
axis too. These variants fold the stride out first (polyphase decomposition: the input split into
its ``sh * sw`` phase grids ``x[a::sh, b::sw]``, each correlated with the kernel taps of the same
phase), so the work scales with the ``Ho * Wo`` outputs actually returned, and they sum the depth
with a matrix product or in the frequency domain. Their scratch (padded copy, phase grids,
spectra, partial sums) is a workspace reused from call to call (:mod:`._workspace`), so a plain
program's allocator does not map and page-fault it again on every call; the result is always a
fresh array.

Notation in the docstrings: ``Hp, Wp`` padded input, ``Ho, Wo`` output, ``C`` depth (1 for 2D),
``T = kh * kw`` taps, ``e`` the item size in bytes.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.linalg.blas
from numpy.lib.stride_tricks import sliding_window_view

from ..cases import Case, Pair
from . import _workspace as ws
from ._common import BUFFER_ELEMENTS, CALL_BYTES, in_pages, output_size, padded_bytes
from .registry import register

#: Upper bound on the scratch of one tap block of ``polyphase-gemm`` (bytes).
GEMM_BLOCK_BYTES = 8 * 2**20


def _phase_rows(n_out: int, k: int, s: int) -> int:
    """Length of one phase grid that the outputs need: ``n_out + ceil(k / s) - 1``."""
    return n_out + -(-k // s) - 1


# --- stride-sliced shift-add -------------------------------------------------------------------


def _shift_add_strided_bytes(case: Case) -> int:
    # The output and one tap's product; in 2D numpy buffers the product of the strided slice.
    ho, wo = case.output_size
    buffer = BUFFER_ELEMENTS * case.itemsize if case.depth == 0 else 0
    return padded_bytes(case) + 2 * ho * wo * case.itemsize + buffer + CALL_BYTES


@register(
    "shift-add-strided",
    family="direct",
    origin="convbench",
    estimate_bytes=_shift_add_strided_bytes,
    summary="shift-add that slices with the step (only strided outputs); depth by mat-vec",
)
def shift_add_strided(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Accumulate ``x_pad[i::sh, j::sw][:Ho, :Wo] (@ kernel[i, j, :])`` over the ``T`` taps.

    Shapes: x (H, W[, C]), kernel (kh, kw[, C]) -> (Ho, Wo). Cost: ``T`` passes over ``Ho * Wo``
    (times ``C`` for the mat-vec); memory: the padded copy and one ``Ho * Wo`` product (both
    reused workspaces), and the result.
    """
    xp = ws.padded("shift-add-strided.padded", x, padding)
    (sh, sw), (kh, kw) = stride, kernel.shape[:2]
    ho, wo = output_size(xp, kernel, stride)
    product = np.matmul if x.ndim == 3 else np.multiply
    out = np.empty((ho, wo), dtype=x.dtype)
    tmp = ws.empty("shift-add-strided.tap", (ho, wo), x.dtype)
    for i in range(kh):
        for j in range(kw):
            window = xp[i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]
            if i == j == 0:
                product(window, kernel[i, j], out=out)
                continue
            product(window, kernel[i, j], out=tmp)
            out += tmp
    return out


# --- polyphase shift-add on flattened phase grids, depth contracted by GEMM --------------------


def _polyphase_gemm_block(case_rows: int, cols: int, taps: int, itemsize: int) -> int:
    """Taps per GEMM block: as many as fit in ``GEMM_BLOCK_BYTES``, at most a phase's taps."""
    return max(1, min(taps, GEMM_BLOCK_BYTES // ((case_rows + 1) * cols * itemsize)))


def _polyphase_gemm_bytes(case: Case) -> int:
    # Workspaces alive through the call: the padded copy, the wide output, one phase grid, one
    # tap block's planes (with depth), the integer product; then the cropped result and the
    # copied taps of a phase. Each as the pages it can touch: the count without that was within
    # 132 bytes of the measured peak.
    (ho, wo), (sh, sw), (kh, kw) = case.output_size, case.stride, case.kernel_size
    item, c = case.itemsize, case.channels
    rows, cols = _phase_rows(ho, kh, sh), _phase_rows(wo, kw, sw)
    grid = (rows + 1) * cols * c * item
    phase_taps = -(-kh // sh) * -(-kw // sw)
    block = _polyphase_gemm_block(rows, cols, phase_taps, item)
    planes = block * (rows + 1) * cols * item if case.depth else 0
    wide = ho * cols * item
    int_product = wide if np.dtype(case.dtype).kind in "iu" else 0
    taps = phase_taps * c * item if case.depth else 0
    buffers = (padded_bytes(case), wide, grid, planes, int_product, ho * wo * item, taps)
    return sum(in_pages(b) for b in buffers if b) + CALL_BYTES


def _axpy(dtype: np.dtype):
    """``axpy(src, dst, a)``: ``dst += a * src`` in place on contiguous 1D arrays."""
    if dtype.kind == "f":
        blas_axpy = scipy.linalg.blas.get_blas_funcs("axpy", dtype=dtype)

        def axpy(src: np.ndarray, dst: np.ndarray, a: object) -> None:
            blas_axpy(src, dst, a=a)  # updates dst in place: contiguous and of its dtype

        return axpy

    def int_axpy(src: np.ndarray, dst: np.ndarray, a: object) -> None:
        if a == 1:
            dst += src
            return
        product = ws.empty("polyphase-gemm.int-product", src.shape, dst.dtype)
        np.multiply(src, a, out=product)
        dst += product

    return int_axpy


@register(
    "polyphase-gemm",
    family="direct",
    origin="convbench",
    estimate_bytes=_polyphase_gemm_bytes,
    summary="polyphase shift-add on flattened phase grids (BLAS axpy); depth by one GEMM",
)
def polyphase_gemm(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Split ``x`` into its ``sh * sw`` contiguous phase grids ``(rows, cols[, C])``; within a
    grid every tap is a stride-1 shift, i.e. an offset ``p * cols + q`` into the flattened grid, so
    each tap adds one contiguous vector into a "wide" ``(Ho, cols)`` output (BLAS ``axpy``, no
    temporary); the ``cols - Wo`` extra columns are cropped at the end. With depth, one GEMM
    ``taps (t, C) @ grid.T (C, rows * cols)`` first contracts the depth for a block of taps.

    Shapes: x (H, W[, C]), kernel (kh, kw[, C]) -> (Ho, Wo). Cost: ``T`` axpys of
    ``Ho * cols ~ Ho * Wo`` (nothing for discarded outputs) plus ``2 * rows * cols * T * C`` GEMM
    flops. Memory: the padded copy, a phase grid (one for all phases), a tap block capped at
    ``GEMM_BLOCK_BYTES`` and the wide output, all reused workspaces; the cropped result.
    """
    xp = ws.padded("polyphase-gemm.padded", x, padding)
    if xp.ndim == 2:
        xp, kernel = xp[:, :, None], kernel[:, :, None]
    (sh, sw), (kh, kw), c = stride, kernel.shape[:2], kernel.shape[2]
    ho, wo = output_size(xp, kernel, stride)
    rows, cols = _phase_rows(ho, kh, sh), _phase_rows(wo, kw, sw)
    n = ho * cols
    wide = ws.zeros("polyphase-gemm.wide", (n,), x.dtype)
    # Every phase gets a grid of the same shape, so one buffer serves them all.
    grid = ws.empty("polyphase-gemm.grid", (rows + 1, cols, c), x.dtype)
    flat = grid.reshape(-1, c)
    block = _polyphase_gemm_block(rows, cols, -(-kh // sh) * -(-kw // sw), x.itemsize)
    planes = ws.empty("polyphase-gemm.planes", (block, flat.shape[0]), x.dtype) if c > 1 else None
    axpy = _axpy(x.dtype)
    for a in range(min(sh, kh)):
        for b in range(min(sw, kw)):
            taps = kernel[a::sh, b::sw]  # (u, v, C)
            u, v = taps.shape[:2]
            # The grid gets exactly `cols` columns (a phase may be one short: those zeros are read
            # only by cropped wide columns) and one spare zero row for the last taps' overrun.
            phase = xp[a::sh, b::sw][:rows, :cols]
            _fill_grid(grid, phase)
            if c == 1:
                src = flat[:, 0]
                for p in range(u):
                    for q in range(v):
                        axpy(src[p * cols + q : p * cols + q + n], wide, taps[p, q, 0])
                continue
            taps_flat = taps.reshape(u * v, c)
            for start in range(0, u * v, block):
                t_block = taps_flat[start : start + block]
                np.matmul(t_block, flat.T, out=planes[: len(t_block)])
                for t, plane in enumerate(planes[: len(t_block)], start):
                    p, q = divmod(t, v)
                    axpy(plane[p * cols + q : p * cols + q + n], wide, 1)
    return wide.reshape(ho, cols)[:, :wo].copy()


def _fill_grid(grid: np.ndarray, phase: np.ndarray) -> None:
    """Copy ``phase`` into the top-left of ``grid`` and zero the rest (only the rest)."""
    r, q = phase.shape[:2]
    grid[:r, :q] = phase
    grid[:r, q:] = 0
    grid[r:] = 0


# --- polyphase FFT with real transforms and the depth summed in the frequency domain -----------


def _fft_shape(ho: int, wo: int, kh: int, kw: int, stride: Pair) -> Pair:
    # Circular correlation of length L is exact for the outputs we keep as soon as L covers the
    # phase grid (no wrap reaches an output index < Ho), so no room for the kernel is needed.
    rows, cols = _phase_rows(ho, kh, stride[0]), _phase_rows(wo, kw, stride[1])
    return scipy.fft.next_fast_len(rows, real=True), scipy.fft.next_fast_len(cols, real=True)


def _fft_rfft_bytes(case: Case) -> int:
    # Workspaces alive through the call: the padded copy, the input and kernel spectra of a phase
    # (S = C x L1 x (L2/2+1) each), the running sum and, with depth and several phases, a
    # phase's product (one plane each), the Ho kept rows of the inverse (real, Ho x L2); then
    # the result, the scaled taps of a phase, pocketfft's line buffer, and for integers numpy's
    # casting buffers and the rounded float copy.
    (ho, wo), (kh, kw), (sh, sw) = case.output_size, case.kernel_size, case.stride
    l1, l2 = _fft_shape(ho, wo, kh, kw, case.stride)
    witem = 4 if case.dtype == "float32" else 8
    plane = l1 * (l2 // 2 + 1) * 2 * witem
    phases = min(sh, kh) * min(sw, kw)
    product = plane if case.depth and phases > 1 else 0
    is_int = np.dtype(case.dtype).kind in "iu"
    rounding = ho * wo * 8 + 2 * BUFFER_ELEMENTS * 8 if is_int else 0
    scaled_taps = -(-kh // sh) * -(-kw // sw) * case.channels * witem
    column_lines = 16 * l1 * 2 * witem  # pocketfft's buffer for the columns it does at once
    return (
        padded_bytes(case)
        + 2 * case.channels * plane
        + plane
        + product
        + ho * l2 * witem
        + ho * wo * case.itemsize
        + rounding
        + scaled_taps
        + column_lines
        + CALL_BYTES
    )


@register(
    "fft-rfft-polyphase",
    family="fft",
    origin="convbench",
    estimate_bytes=_fft_rfft_bytes,
    summary="polyphase real FFT at fast lengths; depth summed in frequency, one inverse FFT",
)
def fft_rfft_polyphase(
    x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair
) -> np.ndarray:
    """Per phase ``(a, b)``: the 2D real FFT of the phase grid and of the phase taps (size
    ``L1 x L2``, fast lengths just above the grid), multiplied by the conjugate and summed over
    phases and depth in the frequency domain; one inverse and a crop give the ``(Ho, Wo)`` outputs.

    Cost: ``2 * sh * sw * C`` real 2D FFTs of ``L1 * L2 ~ Ho * Wo`` points plus one inverse: roughly
    flat in the kernel size. Integers are computed in float64 and rounded back (exact while the
    sums stay far below 2**52); float32 stays float32. Memory: the spectra of one phase, the sum
    and the kept rows of the inverse (reused workspaces, channel-first so that every row
    transform reads contiguous lines), and the result.
    """
    xp = ws.padded("fft-rfft-polyphase.padded", x, padding)
    if xp.ndim == 2:
        xp, kernel = xp[:, :, None], kernel[:, :, None]
    (sh, sw), (kh, kw), c = stride, kernel.shape[:2], kernel.shape[2]
    ho, wo = output_size(xp, kernel, stride)
    rows, cols = _phase_rows(ho, kh, sh), _phase_rows(wo, kw, sw)
    l1, l2 = _fft_shape(ho, wo, kh, kw, stride)
    work = np.complex64 if x.dtype == np.float32 else np.complex128
    gf = ws.empty("fft-rfft-polyphase.grid", (c, l1, l2 // 2 + 1), work)
    tf = ws.empty("fft-rfft-polyphase.taps", (c, l1, l2 // 2 + 1), work)
    acc = ws.empty("fft-rfft-polyphase.sum", (l1, l2 // 2 + 1), work)
    first = True
    for a in range(min(sh, kh)):
        for b in range(min(sw, kw)):
            _rfft2_into(gf, xp[a::sh, b::sw][:rows, :cols], l2)
            # Pruned kernel transform: only its few nonzero rows need the row FFT.
            # Both row transforms are scaled by 1 / L2 (see _rfft2_into): the taps undo it.
            _rfft2_into(tf, kernel[a::sh, b::sw] * float(l2 * l2), l2)
            np.conjugate(tf, out=tf)
            if c == 1:
                np.multiply(gf[0], tf[0], out=acc if first else gf[0])
            else:
                prod = acc if first else ws.empty("fft-rfft-polyphase.prod", acc.shape, work)
                np.einsum("cij,cij->ij", gf, tf, out=prod)
            if not first:
                acc += gf[0] if c == 1 else prod
            first = False
    # Pruned inverse: the column transform, then the row transform of the Ho rows we keep only.
    scipy.fft.ifft(acc, axis=0, overwrite_x=True)
    kept = ws.empty("fft-rfft-polyphase.kept", (ho, l2), acc.real.dtype)
    np.fft.irfft(acc[:ho], n=l2, axis=1, out=kept)
    if x.dtype.kind in "iu":
        return np.rint(kept[:, :wo]).astype(x.dtype)
    return kept[:, :wo].copy()


def _rfft2_into(spectrum: np.ndarray, grid: np.ndarray, l2: int) -> None:
    """``spectrum (C, L1, L2/2+1) = rfft2(grid (r, q, C) zero-filled to L1 x L2)``, in place.

    The row transforms write the ``r`` nonzero rows (numpy's ``out=``, lines zero-filled to
    ``L2`` as they are read), the other rows are zeroed, and the column transform runs in place
    (scipy's ``overwrite_x`` on a contiguous complex array): no temporary of the spectrum's size.
    The row transforms are scaled by ``1 / L2`` (``norm="forward"``): unscaled, numpy passes the
    scale as a Python int and runs float32 in float64, copying the whole grid and spectrum.
    """
    r = grid.shape[0]
    np.fft.rfft(grid.transpose(2, 0, 1), n=l2, axis=-1, norm="forward", out=spectrum[:, :r])
    spectrum[:, r:] = 0
    scipy.fft.fft(spectrum, axis=1, overwrite_x=True)


# --- windows contracted by one GEMV: for kernels close to the input size -----------------------


def _windows_tensordot_bytes(case: Case) -> int:
    ho, wo = case.output_size
    kh, kw = case.kernel_size
    windows = ho * wo * kh * kw * case.channels
    return padded_bytes(case) + (windows + ho * wo) * case.itemsize + CALL_BYTES


@register(
    "windows-tensordot",
    family="gemm",
    origin="convbench",
    estimate_bytes=_windows_tensordot_bytes,
    summary="strided windows (step = stride) copied once and contracted by one GEMV",
)
def windows_tensordot(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """``sliding_window_view(x_pad)[::sh, ::sw]`` laid out as ``(Ho * Wo, kh * kw * C)`` (one
    copy, in the kernel's memory order) times the flattened kernel.

    Cost: copies ``Ho * Wo * T * C`` values (= the direct flop count / 2), so it wins only when the
    output is tiny (kernel close to the input size); memory grows the same way (the copy is a
    reused workspace while it fits the workspace limit).
    """
    xp = ws.padded("windows-tensordot.padded", x, padding)
    if xp.ndim == 2:
        xp, kernel = xp[:, :, None], kernel[:, :, None]
    (sh, sw), (kh, kw), c = stride, kernel.shape[:2], kernel.shape[2]
    ho, wo = output_size(xp, kernel, stride)
    windows = sliding_window_view(xp, (kh, kw), axis=(0, 1))[: sh * (ho - 1) + 1 : sh]
    windows = windows[:, : sw * (wo - 1) + 1 : sw]  # (Ho, Wo, C, kh, kw)
    patches = ws.empty("windows-tensordot.patches", (ho, wo, kh, kw, c), x.dtype)
    np.copyto(patches, windows.transpose(0, 1, 3, 4, 2))
    return (patches.reshape(ho * wo, -1) @ kernel.reshape(-1)).reshape(ho, wo)


# --- einsum on the strided windows, without copying them ---------------------------------------


def _windows_einsum_bytes(case: Case) -> int:
    # The output, and each kernel row's einsum result before it is added to it.
    ho, wo = case.output_size
    return padded_bytes(case) + 2 * ho * wo * case.itemsize + CALL_BYTES


@register(
    "windows-einsum",
    family="view",
    origin="convbench",
    estimate_bytes=_windows_einsum_bytes,
    summary="einsum over each kernel row's strided windows (no copy of the windows)",
)
def windows_einsum(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """For each kernel row ``i``: ``einsum('hwjc,jc->hw')`` over the strided view of the rows
    ``i + sh * m`` split into ``(Wo, kw, C)`` windows; the rows are summed.

    Cost: ``Ho * Wo * T * C`` multiply-adds in einsum's C loops, ``kh`` calls; memory: the output,
    a row's sum and the padded copy (the last two reused workspaces).
    """
    xp = ws.padded("windows-einsum.padded", x, padding)
    if xp.ndim == 2:
        xp, kernel = xp[:, :, None], kernel[:, :, None]
    (sh, sw), (kh, kw) = stride, kernel.shape[:2]
    ho, wo = output_size(xp, kernel, stride)
    windows = sliding_window_view(xp, kw, axis=1)[:, : sw * (wo - 1) + 1 : sw]  # (Hp, Wo, C, kw)
    out = np.empty((ho, wo), dtype=x.dtype)
    row_sum = ws.empty("windows-einsum.row", (ho, wo), x.dtype)
    for i in range(kh):
        rows = windows[i : i + sh * (ho - 1) + 1 : sh]
        np.einsum("hwcj,jc->hw", rows, kernel[i], out=out if i == 0 else row_sum)
        if i:
            out += row_sum
    return out


__all__ = [
    "GEMM_BLOCK_BYTES",
    "banded_gemm",
    "fft_rfft_polyphase",
    "polyphase_gemm",
    "shift_add_strided",
    "windows_einsum",
    "windows_tensordot",
]


# --- banded GEMM per kernel row and output-column block ----------------------------------------


def _band_block(case_kw: int, sw: int) -> int:
    # A block of B outputs reads sw * (B - 1) + kw input columns: B ~ kw / sw keeps the wasted
    # (zero) part of the banded matrix near half while the GEMMs stay large enough for BLAS.
    return max(4, -(-case_kw // sw))


def _banded_gemm_bytes(case: Case) -> int:
    ho, wo = case.output_size
    kh, kw = case.kernel_size
    sw = case.stride[1]
    block = min(_band_block(kw, sw), wo)
    span = sw * (block - 1) + kw
    band = kh * span * case.channels * block
    # The banded matrices, the output, and each GEMM's (Ho, B) result before it is added.
    return padded_bytes(case) + (band + 3 * ho * block + ho * wo) * case.itemsize + CALL_BYTES


@register(
    "banded-gemm",
    family="gemm",
    origin="convbench",
    estimate_bytes=_banded_gemm_bytes,
    summary="per kernel row, strided input rows times a banded kernel matrix (BLAS GEMM)",
)
def banded_gemm(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """Output columns in blocks of ``B``: for kernel row ``i``, the input rows ``i + sh * m``
    restricted to the block's ``span = sw * (B - 1) + kw`` columns, as a ``(Ho, span * C)`` matrix
    (a view, no copy), times a banded ``(span * C, B)`` matrix holding kernel row ``i`` shifted by
    ``sw`` per column. The banded matrices are built once per call.

    Cost: ``2 * Ho * Wo * kh * span * C`` flops, about twice the direct count, but in BLAS GEMMs
    (``kh * ceil(Wo / B)`` calls). Memory: the ``kh`` banded matrices and one block of output
    (reused workspaces), and the result.
    """
    xp = ws.padded("banded-gemm.padded", x, padding)
    if xp.ndim == 2:
        xp, kernel = xp[:, :, None], kernel[:, :, None]
    (sh, sw), (kh, kw), c = stride, kernel.shape[:2], kernel.shape[2]
    ho, wo = output_size(xp, kernel, stride)
    block = min(_band_block(kw, sw), wo)
    span = sw * (block - 1) + kw
    band = ws.zeros("banded-gemm.band", (kh, span, c, block), x.dtype)
    for t in range(block):
        band[:, sw * t : sw * t + kw, :, t] = kernel
    band = band.reshape(kh, span * c, block)
    rows = xp.reshape(xp.shape[0], -1)  # (Hp, Wp * C): a column range is a BLAS-ready view
    out = np.zeros((ho, wo), dtype=x.dtype)
    for n0 in range(0, wo, block):
        nb = min(block, wo - n0)
        width = (sw * (nb - 1) + kw) * c
        start = sw * n0 * c
        acc = out[:, n0 : n0 + nb]
        product = ws.empty("banded-gemm.product", (ho, nb), x.dtype)
        for i in range(kh):
            xi = rows[i : i + sh * (ho - 1) + 1 : sh, start : start + width]
            acc += np.matmul(xi, band[i, :width, :nb], out=product)
    return out

"""Stride- and depth-aware methods: compute only the strided outputs, contract depth with BLAS.

The study's methods compute every stride-1 output and sub-sample afterwards, and FFT over the depth
axis too. These variants fold the stride out first (polyphase decomposition: the input split into
its ``sh * sw`` phase grids ``x[a::sh, b::sw]``, each correlated with the kernel taps of the same
phase), so the work scales with the ``Ho * Wo`` outputs actually returned, and they sum the depth
with a matrix product or in the frequency domain.

Notation in the docstrings: ``Hp, Wp`` padded input, ``Ho, Wo`` output, ``C`` depth (1 for 2D),
``T = kh * kw`` taps, ``e`` the item size in bytes.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.linalg.blas
from numpy.lib.stride_tricks import sliding_window_view

from ..cases import Case, Pair
from ._common import BUFFER_ELEMENTS, CALL_BYTES, output_size, pad_zeros, padded_bytes
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
    (times ``C`` for the mat-vec); memory: the padded copy plus two ``Ho * Wo`` buffers.
    """
    xp = pad_zeros(x, padding)
    (sh, sw), (kh, kw) = stride, kernel.shape[:2]
    ho, wo = output_size(xp, kernel, stride)
    out = np.zeros((ho, wo), dtype=x.dtype)
    tmp = np.empty_like(out)
    for i in range(kh):
        for j in range(kw):
            window = xp[i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]
            if x.ndim == 3:
                np.matmul(window, kernel[i, j], out=tmp)
            else:
                np.multiply(window, kernel[i, j], out=tmp)
            out += tmp
    return out


# --- polyphase shift-add on flattened phase grids, depth contracted by GEMM --------------------


def _polyphase_gemm_bytes(case: Case) -> int:
    # Walks the phases and tap blocks in the method's order: a new grid or tap block is made
    # while the previous one is still bound, so two of each can be alive at once.
    (ho, wo), (sh, sw), (kh, kw) = case.output_size, case.stride, case.kernel_size
    item, c = case.itemsize, case.channels
    rows, cols = _phase_rows(ho, kh, sh), _phase_rows(wo, kw, sw)
    grid = (rows + 1) * cols * c * item
    per_block = max(1, GEMM_BLOCK_BYTES // ((rows + 1) * cols * item))
    live_grid = live_block = high = 0
    for a in range(min(sh, kh)):
        for b in range(min(sw, kw)):
            high = max(high, live_grid + live_block + grid)
            live_grid = grid
            taps = len(range(a, kh, sh)) * len(range(b, kw, sw))
            for start in range(0, taps if case.depth else 0, per_block):
                block = min(per_block, taps - start) * (rows + 1) * cols * item
                high = max(high, grid + live_block + block)
                live_block = block
    wide = ho * cols * item
    int_product = wide if np.dtype(case.dtype).kind in "iu" else 0  # `src * a` in int_axpy
    high = max(high, live_grid + live_block + int_product, live_grid + live_block + ho * wo * item)
    taps = -(-kh // sh) * -(-kw // sw) * c * item if case.depth else 0  # a phase's taps, copied
    return padded_bytes(case) + wide + high + taps + CALL_BYTES


def _axpy(dtype: np.dtype):
    """``axpy(src, dst, a)``: ``dst += a * src`` in place on contiguous 1D arrays."""
    if dtype.kind == "f":
        blas_axpy = scipy.linalg.blas.get_blas_funcs("axpy", dtype=dtype)

        def axpy(src: np.ndarray, dst: np.ndarray, a: object) -> None:
            blas_axpy(src, dst, a=a)  # updates dst in place: contiguous and of its dtype

        return axpy

    def int_axpy(src: np.ndarray, dst: np.ndarray, a: object) -> None:
        dst += src * a if a != 1 else src

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
    flops. Memory: a phase grid, a tap block capped at ``GEMM_BLOCK_BYTES``, the wide output.
    """
    xp = pad_zeros(x, padding)
    if xp.ndim == 2:
        xp, kernel = xp[:, :, None], kernel[:, :, None]
    (sh, sw), (kh, kw), c = stride, kernel.shape[:2], kernel.shape[2]
    ho, wo = output_size(xp, kernel, stride)
    rows, cols = _phase_rows(ho, kh, sh), _phase_rows(wo, kw, sw)
    n = ho * cols
    out = np.zeros(n, dtype=x.dtype)
    axpy = _axpy(x.dtype)
    for a in range(min(sh, kh)):
        for b in range(min(sw, kw)):
            taps = kernel[a::sh, b::sw]  # (u, v, C)
            u, v = taps.shape[:2]
            # The grid gets exactly `cols` columns (a phase may be one short: those zeros are read
            # only by cropped wide columns) and one spare zero row for the last taps' overrun.
            phase = xp[a::sh, b::sw][:rows, :cols]
            grid = np.zeros((rows + 1, cols, c), dtype=x.dtype)
            grid[: phase.shape[0], : phase.shape[1]] = phase
            flat = grid.reshape(-1, c)
            if c == 1:
                src = flat[:, 0]
                for p in range(u):
                    for q in range(v):
                        axpy(src[p * cols + q : p * cols + q + n], out, taps[p, q, 0])
                continue
            taps_flat = taps.reshape(u * v, c)
            per_block = max(1, GEMM_BLOCK_BYTES // max(1, flat.shape[0] * x.itemsize))
            for start in range(0, u * v, per_block):
                planes = taps_flat[start : start + per_block] @ flat.T  # (t, P)
                for t, plane in enumerate(planes, start):
                    p, q = divmod(t, v)
                    axpy(plane[p * cols + q : p * cols + q + n], out, 1)
    return out.reshape(ho, cols)[:, :wo].copy()


# --- polyphase FFT with real transforms and the depth summed in the frequency domain -----------


def _fft_shape(ho: int, wo: int, kh: int, kw: int, stride: Pair) -> Pair:
    # Circular correlation of length L is exact for the outputs we keep as soon as L covers the
    # phase grid (no wrap reaches an output index < Ho), so no room for the kernel is needed.
    rows, cols = _phase_rows(ho, kh, stride[0]), _phase_rows(wo, kw, stride[1])
    return scipy.fft.next_fast_len(rows, real=True), scipy.fft.next_fast_len(cols, real=True)


def _fft_rfft_bytes(case: Case) -> int:
    # The largest moment of the phase loop. Alive: a phase's input spectrum gf, kernel spectrum
    # tf and tf's conjugate (each S = L1 x (L2/2+1) x C), accumulator-sized planes (the product,
    # the previous product, the running sum), the zero-padded real grid rfft2 copies when the
    # grid is not already L1 x L2, and for integers the float64 copies of grid and taps. A name
    # keeps the previous phase's array alive until it is reassigned.
    (ho, wo), (kh, kw), (sh, sw) = case.output_size, case.kernel_size, case.stride
    l1, l2 = _fft_shape(ho, wo, kh, kw, case.stride)
    rows, cols = _phase_rows(ho, kh, sh), _phase_rows(wo, kw, sw)
    witem = 4 if case.dtype == "float32" else 8
    plane = l1 * (l2 // 2 + 1) * 2 * witem
    spectra = case.channels * plane
    padded_grid = 0 if (rows, cols) == (l1, l2) else l1 * l2 * case.channels * witem
    is_int = np.dtype(case.dtype).kind in "iu"
    int_grid = rows * cols * case.channels * 8 if is_int else 0
    int_taps = -(-kh // sh) * -(-kw // sw) * case.channels * 8 if is_int else 0
    moments = [int_grid + padded_grid + spectra, int_grid + 3 * spectra + plane]  # phase 1
    phases = min(sh, kh) * min(sw, kw)
    if phases > 1:
        more = phases > 2  # from the third phase on, the sum and the last product differ
        moments += [
            2 * int_grid + 2 * spectra + (1 + more) * plane,  # next grid (integers)
            int_grid + padded_grid + 3 * spectra + (1 + more) * plane,  # next gf
            int_grid + 3 * spectra + (2 + more) * plane,  # next product
            int_grid + 2 * spectra + 3 * plane,  # acc + prod
        ]
    # The inverse: the column transform of the sum, then the row transform of its Ho rows;
    # integers are then rounded (one float and one int array of the result).
    kept = int_grid + 2 * spectra + (1 + (phases > 1)) * plane + ho * l2 * witem
    moments.append(kept + max(plane, 2 * ho * wo * 8 if is_int else 0))
    return padded_bytes(case) + max(moments) + int_taps + CALL_BYTES


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
    """Per phase ``(a, b)``: ``rfft2`` of the phase grid and of the phase taps (size ``L1 x L2``,
    fast lengths just above the grid), multiply by the conjugate and sum over phases and depth in
    the frequency domain; one ``irfft2`` and a crop give the ``(Ho, Wo)`` outputs.

    Cost: ``2 * sh * sw * C`` real 2D FFTs of ``L1 * L2 ~ Ho * Wo`` points plus one inverse: roughly
    flat in the kernel size. Integers are computed in float64 and rounded back (exact while the
    sums stay far below 2**52); float32 stays float32.
    """
    xp = pad_zeros(x, padding)
    if xp.ndim == 2:
        xp, kernel = xp[:, :, None], kernel[:, :, None]
    (sh, sw), (kh, kw) = stride, kernel.shape[:2]
    ho, wo = output_size(xp, kernel, stride)
    rows, cols = _phase_rows(ho, kh, sh), _phase_rows(wo, kw, sw)
    shape = _fft_shape(ho, wo, kh, kw, stride)
    work = np.float32 if x.dtype == np.float32 else np.float64
    acc = None
    for a in range(min(sh, kh)):
        for b in range(min(sw, kw)):
            grid = xp[a::sh, b::sw][:rows, :cols].astype(work, copy=False)
            taps = kernel[a::sh, b::sw].astype(work, copy=False)
            gf = scipy.fft.rfft2(grid, s=shape, axes=(0, 1))
            # Pruned kernel transform: only its few nonzero rows need the row FFT.
            tf = scipy.fft.fft(scipy.fft.rfft(taps, n=shape[1], axis=1), n=shape[0], axis=0)
            if gf.shape[2] == 1:
                prod = gf[:, :, 0] * tf[:, :, 0].conj()
            else:
                prod = np.einsum("ijc,ijc->ij", gf, tf.conj())
            acc = prod if acc is None else acc + prod
    # Pruned inverse: the column transform, then the row transform of the Ho rows we keep only.
    out = scipy.fft.irfft(scipy.fft.ifft(acc, axis=0)[:ho], n=shape[1], axis=1)[:, :wo]
    if x.dtype.kind in "iu":
        return np.rint(out).astype(x.dtype)
    return out.astype(x.dtype, copy=False)


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
    output is tiny (kernel close to the input size); memory grows the same way.
    """
    xp = pad_zeros(x, padding)
    if xp.ndim == 2:
        xp, kernel = xp[:, :, None], kernel[:, :, None]
    (sh, sw), (kh, kw) = stride, kernel.shape[:2]
    ho, wo = output_size(xp, kernel, stride)
    windows = sliding_window_view(xp, (kh, kw), axis=(0, 1))[: sh * (ho - 1) + 1 : sh]
    windows = windows[:, : sw * (wo - 1) + 1 : sw]  # (Ho, Wo, C, kh, kw)
    patches = np.ascontiguousarray(windows.transpose(0, 1, 3, 4, 2)).reshape(ho * wo, -1)
    return (patches @ kernel.reshape(-1)).reshape(ho, wo)


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

    Cost: ``Ho * Wo * T * C`` multiply-adds in einsum's C loops, ``kh`` calls; memory: the output
    only (plus the padded copy).
    """
    xp = pad_zeros(x, padding)
    if xp.ndim == 2:
        xp, kernel = xp[:, :, None], kernel[:, :, None]
    (sh, sw), (kh, kw) = stride, kernel.shape[:2]
    ho, wo = output_size(xp, kernel, stride)
    windows = sliding_window_view(xp, kw, axis=1)[:, : sw * (wo - 1) + 1 : sw]  # (Hp, Wo, C, kw)
    out = np.zeros((ho, wo), dtype=x.dtype)
    for i in range(kh):
        rows = windows[i : i + sh * (ho - 1) + 1 : sh]
        out += np.einsum("hwcj,jc->hw", rows, kernel[i])
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
    (``kh * ceil(Wo / B)`` calls). Memory: the ``kh`` banded matrices and one block of output.
    """
    xp = pad_zeros(x, padding)
    if xp.ndim == 2:
        xp, kernel = xp[:, :, None], kernel[:, :, None]
    (sh, sw), (kh, kw), c = stride, kernel.shape[:2], kernel.shape[2]
    ho, wo = output_size(xp, kernel, stride)
    block = min(_band_block(kw, sw), wo)
    span = sw * (block - 1) + kw
    band = np.zeros((kh, span, c, block), dtype=x.dtype)
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
        for i in range(kh):
            xi = rows[i : i + sh * (ho - 1) + 1 : sh, start : start + width]
            acc += xi @ band[i, :width, :nb]
    return out

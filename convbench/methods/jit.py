"""A compiled direct method (numba; the optional ``convbench[jit]`` extra).

Registered only when numba imports. Without it nothing changes except that the registry knows
why ``jit-direct`` is absent, so naming it says how to get it (``pip install 'convbench[jit]'``).

Two loop orders, each computing only the strided outputs with contiguous inner loops, chosen by
the case (:func:`uses_rows`):

* **Polyphase grids** (2D inputs, and stride 1): the zero-padded input is re-laid out once into
  its ``sh * sw`` polyphase grids per channel, ``grid[c, a % sh, b % sw]`` of ``R x M`` values
  (``R = Ho + (kh - 1) // sh`` rows, ``M = Wo + (kw - 1) // sw`` columns). Within a grid every
  tap ``(a, b, c)`` is a plain shift by ``(a // sh) * M + b // sw``, so the ``(Ho, M)`` "wide"
  output, flattened, is a sum over the ``T = kh * kw * C`` taps of
  ``kernel[a, b, c] * grid_flat[offset + n]``: one long stride-1 multiply-add per tap (the
  ``M - Wo`` extra columns per row are cropped at the end). The taps are taken four at a time:
  four products summed in registers, then one load and one store of the output, which is walked
  in chunks small enough to stay in L1.
* **Row dots** (depth >= 2 at a stride above 1, and kernels that nearly fill the input): no
  re-layout. In the channel-last input a window's row ``x[i * sh + a, j * sw : j * sw + kw, :]``
  is ``kw * C`` contiguous values, so an output is ``kh`` dot products of that length with the
  kernel's rows. Outputs are computed in
  blocks of 2 rows x 4 columns: each kernel value loaded is used eight times, and the eight sums
  stay in registers (the sums are reassociated so that LLVM vectorises them). At a large stride
  the grids would copy the whole input for few outputs; here the input is read in place.

Compiled once per dtype and array layout, cached on disk (numba's ``cache=True``), one thread.
Integers stay int64 (exact, wrapping like numpy), float32 is computed in float32.
"""

from __future__ import annotations

import numpy as np

from ..cases import Case, Pair
from ._common import CALL_BYTES, in_pages, output_bytes
from .registry import note_missing, register

#: The method's name, registered or not.
NAME = "jit-direct"
#: What to install to get it.
EXTRA = "pip install 'convbench[jit]'"
#: Output values per chunk of the tap loop: 8 KiB of float64, so that a chunk and the four input
#: streams it reads stay in L1 while all taps pass over it.
CHUNK = 1024

try:  # numba is optional; a broken install (e.g. built for another numpy) counts as absent
    import numba
except Exception as e:  # pragma: no cover - which branch runs depends on the install
    numba = None
    _why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    note_missing(NAME, f"needs numba ({_why}): {EXTRA}")


def grid_shape(case: Case) -> tuple[int, int]:
    """``(R, M)``: rows and columns of one polyphase grid the strided outputs need."""
    (ho, wo), (kh, kw), (sh, sw) = case.output_size, case.kernel_size, case.stride
    return ho + (kh - 1) // sh, wo + (kw - 1) // sw


def _is_plain(two_d: bool, stride: Pair, padding: Pair) -> bool:
    # 2D at stride 1 without padding: the (contiguous) input is its own single grid, no copy.
    return two_d and stride == (1, 1) and padding == (0, 0)


def uses_rows(channels: int, stride: Pair, kernel_w: int, out_w: int) -> bool:
    """Whether a case runs on row dots rather than grids: depth >= 2 at a stride above 1, or
    when the grids' wide output would crop at least as many columns as it keeps.

    Measured side by side (float64, one process): at depth 3-10 and stride 2-5 (kernels 3-11,
    128 and 200 pixels) the row dots reach 1.1-6x the grids' speed (the grids copy the whole
    input, for fewer outputs the larger the stride); at stride 1 the grids are ahead (45-50 % of
    the GEMM peak against 40-43 % at 11x11), and in 2D at any stride (x1.0-x2.1) unless the
    kernel nearly fills the input: 48x48 * 45x45 s1 computes 48 columns for 4 with grids (row
    dots 5.3x faster), 200x200 * 190x190 s1 12x.
    """
    cropped = (kernel_w - 1) // stride[1]
    return (channels >= 2 and stride != (1, 1)) or cropped >= out_w


def estimate_bytes(case: Case) -> int:
    """Row dots: the padded copy (when there is padding) and the result, nothing else (no numpy
    temporaries). Grids: the polyphase grids, the flattened wide output, the tap table and the
    result.

    ``C * sh * sw * R * M`` grid values (about the padded input; none for a 2D input at stride 1
    without padding), ``(Ho - 1) * M + Wo`` wide outputs, ``T`` taps (value and an 8-byte
    offset), ``Ho * Wo`` results; each buffer as the pages it can touch (numba's allocator adds a
    header and the resident-set figure counts pages: 12 bytes over an exact count failed).
    """
    (ho, wo), (kh, kw), (sh, sw) = case.output_size, case.kernel_size, case.stride
    item = case.itemsize
    if uses_rows(case.channels, case.stride, kw, wo):
        hp, wp = case.padded_size
        padded = hp * wp * case.channels * item if case.padding != (0, 0) else 0
        return sum(in_pages(b) for b in (padded, output_bytes(case)) if b)
    rows, cols = grid_shape(case)
    grids = case.channels * sh * sw * rows * cols * item
    if _is_plain(case.depth == 0, case.stride, case.padding):
        grids = 0
    wide = ((ho - 1) * cols + wo) * item
    taps = kh * kw * case.channels
    buffers = (grids, wide, taps * item, taps * 8, output_bytes(case))
    return sum(in_pages(b) for b in buffers if b) + CALL_BYTES


if numba is not None:
    _jit = numba.njit(cache=True, nogil=True, boundscheck=False, fastmath={"contract"})

    @_jit
    def _layout(x, kh, kw, sh, sw, ph, pw):  # pragma: no cover - compiled
        # The polyphase grids of the zero-padded x (H, W, C), flattened: grid (c, p, q) starts
        # at ((c * sh + p) * sw + q) * R * M and holds x_pad[r * sh + p, m * sw + q, c]. Each
        # grid row comes from one input row (a strided slice of its pixels), zeros around it.
        h, w, c = x.shape
        ho = 1 + (h + 2 * ph - kh) // sh
        wo = 1 + (w + 2 * pw - kw) // sw
        rows = ho + (kh - 1) // sh
        cols = wo + (kw - 1) // sw
        size = rows * cols
        per_channel = sh * sw * size
        grids = np.empty(c * per_channel, dtype=x.dtype)
        for p in range(sh):
            for r in range(rows):
                i = r * sh + p - ph
                for q in range(sw):
                    # The grid columns m whose input column m * sw + q - pw lies in [0, W).
                    lo = min(cols, max(0, -(-(pw - q) // sw)))
                    hi = min(cols, max(lo, (w - 1 - q + pw) // sw + 1))
                    if i < 0 or i >= h:
                        lo = hi = 0
                    at = (p * sw + q) * size + r * cols
                    for k in range(c):
                        row = grids[at + k * per_channel : at + k * per_channel + cols]
                        for m in range(lo):
                            row[m] = 0
                        for m in range(hi, cols):
                            row[m] = 0
                    if hi > lo:
                        pixels = x[i, lo * sw + q - pw :: sw]  # (hi - lo, C)
                        for k in range(c):
                            part = grids[at + k * per_channel + lo : at + k * per_channel + hi]
                            for m in range(hi - lo):
                                part[m] = pixels[m, k]
        return grids, ho, wo, rows, cols

    @_jit
    def _taps(kernel, sh, sw, rows, cols):  # pragma: no cover - compiled
        # Every tap's weight and its offset into the flattened grids, channel by channel.
        kh, kw, c = kernel.shape
        size = rows * cols
        n = kh * kw * c
        weights = np.empty(n, dtype=kernel.dtype)
        offsets = np.empty(n, dtype=np.int64)
        t = 0
        for k in range(c):
            for a in range(kh):
                for b in range(kw):
                    weights[t] = kernel[a, b, k]
                    grid = (k * sh + a % sh) * sw + b % sw
                    offsets[t] = grid * size + (a // sh) * cols + b // sw
                    t += 1
        return weights, offsets

    @_jit
    def _accumulate(grids, weights, offsets, wide, chunk):  # pragma: no cover - compiled
        # wide[n] += sum_t weights[t] * grids[offsets[t] + n], chunk by chunk, up to four taps
        # per pass. Slicing first makes every index in the inner loops a non-negative range
        # index, so numba emits no wraparound check and LLVM vectorises them into plain loads.
        n_taps = weights.shape[0]
        full = n_taps - n_taps % 4
        left = n_taps - full
        total = wide.shape[0]
        for start in range(0, total, chunk):
            size = min(chunk, total - start)
            out = wide[start : start + size]
            for t in range(0, full, 4):
                w0, w1, w2, w3 = weights[t], weights[t + 1], weights[t + 2], weights[t + 3]
                s0 = grids[offsets[t] + start :]
                s1 = grids[offsets[t + 1] + start :]
                s2 = grids[offsets[t + 2] + start :]
                s3 = grids[offsets[t + 3] + start :]
                for n in range(size):
                    out[n] += w0 * s0[n] + w1 * s1[n] + w2 * s2[n] + w3 * s3[n]
            if left == 3:
                w0, w1, w2 = weights[full], weights[full + 1], weights[full + 2]
                s0 = grids[offsets[full] + start :]
                s1 = grids[offsets[full + 1] + start :]
                s2 = grids[offsets[full + 2] + start :]
                for n in range(size):
                    out[n] += w0 * s0[n] + w1 * s1[n] + w2 * s2[n]
            elif left == 2:
                w0, w1 = weights[full], weights[full + 1]
                s0 = grids[offsets[full] + start :]
                s1 = grids[offsets[full + 1] + start :]
                for n in range(size):
                    out[n] += w0 * s0[n] + w1 * s1[n]
            elif left == 1:
                w0 = weights[full]
                s0 = grids[offsets[full] + start :]
                for n in range(size):
                    out[n] += w0 * s0[n]

    @_jit
    def _from_grids(grids, kernel, sh, sw, ho, wo, rows, cols, chunk):  # pragma: no cover
        weights, offsets = _taps(kernel, sh, sw, rows, cols)
        # Row i of the wide output starts at i * cols; the last row stops at Wo, so no tap
        # reads past the end of its grid.
        wide = np.zeros((ho - 1) * cols + wo, dtype=grids.dtype)
        _accumulate(grids, weights, offsets, wide, chunk)
        out = np.empty((ho, wo), dtype=grids.dtype)
        for i in range(ho):
            out[i, :] = wide[i * cols : i * cols + wo]
        return out

    # Reassociating the sums lets LLVM vectorise a dot product (and changes float rounding no
    # more than any summation order does; integers stay exact).
    _jit_sums = numba.njit(
        cache=True, nogil=True, boundscheck=False, fastmath={"contract", "reassoc"}
    )

    @_jit_sums
    def _window(xp, k2, r, b):  # pragma: no cover - compiled
        # One output: sum over a of dot(xp[r + a, b : b + L], k2[a]).
        kh, length = k2.shape
        acc = xp.dtype.type(0)
        for a in range(kh):
            row = xp[r + a, b : b + length]
            kr = k2[a]
            for t in range(length):
                acc += row[t] * kr[t]
        return acc

    @_jit_sums
    def _rows(xp, k2, ho, wo, sh, step):  # pragma: no cover - compiled
        # xp (Hp, Wp * C) and k2 (kh, kw * C), both channel-last and contiguous; output (i, j)
        # starts at row i * sh, value j * step (step = sw * C). Blocks of 2 x 4 outputs, then
        # the last column(s) and row one output at a time.
        kh, length = k2.shape
        out = np.empty((ho, wo), dtype=xp.dtype)
        wo4, ho2 = wo - wo % 4, ho - ho % 2
        for i in range(0, ho2, 2):
            for j in range(0, wo4, 4):
                z = xp.dtype.type(0)
                a0, a1, a2, a3, c0, c1, c2, c3 = z, z, z, z, z, z, z, z
                b = j * step
                for a in range(kh):
                    top, low, kr = xp[i * sh + a], xp[(i + 1) * sh + a], k2[a]
                    x0, x1 = top[b : b + length], top[b + step : b + step + length]
                    x2 = top[b + 2 * step : b + 2 * step + length]
                    x3 = top[b + 3 * step : b + 3 * step + length]
                    y0, y1 = low[b : b + length], low[b + step : b + step + length]
                    y2 = low[b + 2 * step : b + 2 * step + length]
                    y3 = low[b + 3 * step : b + 3 * step + length]
                    for t in range(length):
                        kv = kr[t]
                        a0 += x0[t] * kv
                        a1 += x1[t] * kv
                        a2 += x2[t] * kv
                        a3 += x3[t] * kv
                        c0 += y0[t] * kv
                        c1 += y1[t] * kv
                        c2 += y2[t] * kv
                        c3 += y3[t] * kv
                top_out, low_out = out[i, j : j + 4], out[i + 1, j : j + 4]
                top_out[0], top_out[1], top_out[2], top_out[3] = a0, a1, a2, a3
                low_out[0], low_out[1], low_out[2], low_out[3] = c0, c1, c2, c3
            for j in range(wo4, wo):
                out[i, j] = _window(xp, k2, i * sh, j * step)
                out[i + 1, j] = _window(xp, k2, (i + 1) * sh, j * step)
        for i in range(ho2, ho):
            for j in range(wo):
                out[i, j] = _window(xp, k2, i * sh, j * step)
        return out

    def _by_rows(x3: np.ndarray, k3: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
        (ph, pw), (kh, kw, c) = padding, k3.shape
        if ph or pw:
            x3 = np.pad(x3, ((ph, ph), (pw, pw), (0, 0)))
        x3, k3 = np.ascontiguousarray(x3), np.ascontiguousarray(k3)
        hp, wp = x3.shape[:2]
        ho, wo = (hp - kh) // stride[0] + 1, (wp - kw) // stride[1] + 1
        flat, k2 = x3.reshape(hp, wp * c), k3.reshape(kh, kw * c)
        return _rows(flat, k2, ho, wo, stride[0], stride[1] * c)

    @_jit
    def _correlate(x, kernel, sh, sw, ph, pw, chunk):  # pragma: no cover - compiled
        grids, ho, wo, rows, cols = _layout(x, kernel.shape[0], kernel.shape[1], sh, sw, ph, pw)
        return _from_grids(grids, kernel, sh, sw, ho, wo, rows, cols, chunk)

    @_jit
    def _correlate_plain(flat, h, w, kernel, chunk):  # pragma: no cover - compiled
        # The input itself is the only grid: R = H, M = W.
        kh, kw = kernel.shape[0], kernel.shape[1]
        return _from_grids(flat, kernel, 1, 1, h - kh + 1, w - kw + 1, h, w, chunk)

    @register(
        NAME,
        family="direct",
        origin="convbench (numba, optional extra [jit])",
        estimate_bytes=estimate_bytes,
        summary="compiled direct correlation (row dots or polyphase grids); only strided outputs",
    )
    def jit_direct(x: np.ndarray, kernel: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
        """Shapes: x (H, W[, C]), kernel (kh, kw[, C]) -> (Ho, Wo).

        Cost: row dots (:func:`uses_rows`): ``Ho * Wo * T`` multiply-adds, the input read in
        place (padded into a copy when there is padding). Grids: ``Ho * M * T`` (``M = Wo +
        (kw - 1) // sw``: at most the kernel width more than the outputs) after a re-layout of
        the padded input. Memory: the result, plus the padded copy (row dots) or the polyphase
        grids (about the padded input) and the wide output (grids).
        The first call of a dtype in a process compiles it or loads it from numba's disk cache.
        """
        k3 = kernel if kernel.ndim == 3 else kernel[:, :, None]
        x3 = x if x.ndim == 3 else x[:, :, None]
        wo = (x.shape[1] + 2 * padding[1] - kernel.shape[1]) // stride[1] + 1
        if uses_rows(x3.shape[2], stride, kernel.shape[1], wo):
            return _by_rows(x3, k3, stride, padding)
        if _is_plain(x.ndim == 2, stride, padding) and x.flags.c_contiguous:
            return _correlate_plain(x.reshape(-1), x.shape[0], x.shape[1], k3, CHUNK)
        return _correlate(x3, k3, stride[0], stride[1], padding[0], padding[1], CHUNK)

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
  ``kernel[a, b, c] * grid_flat[offset + n]``: one long stride-1 multiply-add per tap. The
  outputs are computed in blocks of 2 rows x 24 float64 (48 float32) columns held in twelve
  vector registers while all taps pass (:func:`grid_rows`): row ``i + 1`` reads with tap
  ``(a, b)`` what row ``i`` reads with tap ``(a + sh, b)``, so each input vector loaded is
  multiplied into both rows (per tap pair six loads for twelve multiply-adds, no load or store
  of the output). Results narrower than a block take flat blocks of the wide output instead
  (:func:`grid_block`, its ``M - Wo`` extra columns per row cropped at the end).
* **Row dots** (depth >= 2 at a stride above 1, and kernels that nearly fill the input): no
  re-layout. In the channel-last input a window's row ``x[i * sh + a, j * sw : j * sw + kw, :]``
  is ``kw * C`` contiguous values, so an output is ``kh`` dot products of that length with the
  kernel's rows. Outputs are computed in blocks of up to 2 rows x 6 columns (:func:`row_block`):
  each kernel vector loaded is used twelve times, and the sums stay in vector registers across
  all kernel rows, summed across lanes once per output. At a large stride the grids would copy
  the whole input for few outputs; here the input is read in place.

The blocks are written as LLVM vector code (numba intrinsics), since numba's own loops leave
LLVM to sum every short row dot across lanes.

Compiled once per dtype and array layout, cached on disk (numba's ``cache=True``), one thread.
Integers stay int64 (exact, wrapping like numpy), float32 is computed in float32.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..cases import Case, Pair
from ._common import CALL_BYTES, in_pages, output_bytes
from .registry import note_missing, register

#: The method's name, registered or not.
NAME = "jit-direct"
#: What to install to get it.
EXTRA = "pip install 'convbench[jit]'"
#: Bytes of one accumulator vector of the compiled blocks: one AVX2 register (4 float64/int64,
#: 8 float32).
VECTOR_BYTES = 32
#: Output rows of one grid block, and the bytes of each row's part (6 vectors: 24 float64, 48
#: float32): :func:`grid_rows`. Narrower results take the flat blocks instead.
GRID_ROWS, ROW_BLOCK_BYTES = 2, 6 * VECTOR_BYTES
#: Output values per chunk of the tap loop: 8 KiB of float64, so that a chunk and the four input
#: streams it reads stay in L1 while all taps pass over it.
CHUNK = 1024

try:  # numba is optional; a broken install (e.g. built for another numpy) counts as absent
    import numba
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic
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


def _row_tap_counts(case: Case, n_rows: int) -> tuple[int, int]:
    """Shared and single taps of the tables of :func:`_row_taps` for blocks of ``n_rows``."""
    (kh, kw), (sh, _) = case.kernel_size, case.stride
    shared = single = 0
    for p in range(min(sh, kh)):
        n = -(-(kh - p) // sh)  # taps in each kernel column of phase p
        for u in range(n + n_rows - 1):
            if n_rows - 1 <= u < n:
                shared += case.channels * kw
            else:
                single += case.channels * kw * (min(n_rows - 1, u) - max(0, u - n + 1) + 1)
    return shared, single


def estimate_bytes(case: Case) -> int:
    """Row dots: the padded copy (when there is padding) and the result, nothing else (no numpy
    temporaries). Grids: the polyphase grids, the tap tables and the result, plus the flattened
    wide output where the result is narrower than one block.

    ``C * sh * sw * R * M`` grid values (about the padded input; none for a 2D input at stride 1
    without padding), ``T`` taps (value and an 8-byte offset) and, for blocks of rows, the shared
    taps (``GRID_ROWS`` values and an offset) and the single ones; ``Ho * Wo`` results, or
    ``(Ho - 1) * M + Wo`` wide outputs before them. Each buffer as the pages it can touch (numba's
    allocator adds a header and the resident-set figure counts pages: 12 bytes over an exact
    count failed).
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
    taps = kh * kw * case.channels
    buffers = [grids, taps * item, taps * 8, output_bytes(case)]
    if wo >= ROW_BLOCK_BYTES // item:
        shared, single = _row_tap_counts(case, GRID_ROWS)
        buffers += [shared * 8, shared * GRID_ROWS * item, single * 8, single * item]
    else:
        buffers.append(((ho - 1) * cols + wo) * item)
    return sum(in_pages(b) for b in buffers if b) + CALL_BYTES


if numba is not None:
    # Explicit vector code (numba intrinsics that emit LLVM vector IR). numba has no vector
    # type, and LLVM will not keep a dot product's partial sums in vector lanes across an outer
    # loop: left to itself it sums every kernel row's short dot (kw * C = 20-50 values) across
    # lanes, which costs as much as the multiply-adds at small kernels. Here a block's sums are
    # LLVM vectors from the first tap to the last. Only llvm.fma is named; LLVM maps the vector
    # width onto what the CPU has (AVX2, AVX-512, NEON), so the code stays portable. It lives in
    # this file because numba's disk cache is keyed on the source file of the compiled function
    # only: code in another module could change without invalidating it.

    #: Outputs one block computes, rows x columns: 12 vector sums plus the kernel vector and the
    #: inputs fit the 16 AVX2 registers; measured side by side (float64, float32, int64, depth
    #: 4-10, f = 5 and 11, strides 2-5) 2 x 6 was fastest in 8 of 10 cells against 2 x 4,
    #: 3 x 4 and 2 x 4 of 64-byte vectors.
    BLOCK_ROWS, BLOCK_COLS = 2, 6
    #: Independent vector sums a row block keeps at least: a fused multiply-add takes ~4 cycles,
    #: so one chain per output would start one every 4 cycles where the loads allow ~1 a cycle.
    CHAINS = 4

    _I32, _I64 = ir.IntType(32), ir.IntType(64)

    def _const(n: int) -> ir.Constant:
        return ir.Constant(_I64, n)

    def _splat(builder, value: ir.Value, lanes: int) -> ir.Value:
        # ``value`` in every lane of a vector.
        v = builder.insert_element(
            ir.Constant(ir.VectorType(value.type, lanes), ir.Undefined), value, ir.Constant(_I32, 0)
        )
        return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, lanes), [0] * lanes))

    def _lane_sum(builder, v: ir.Value, lanes: int, add) -> ir.Value:
        # Pairwise halving: log2(lanes) shuffles and adds, then lane 0.
        while lanes > 1:
            half = lanes // 2
            lo = builder.shuffle_vector(
                v, v, ir.Constant(ir.VectorType(_I32, half), list(range(half)))
            )
            hi = builder.shuffle_vector(
                v, v, ir.Constant(ir.VectorType(_I32, half), list(range(half, lanes)))
            )
            v, lanes = add(lo, hi), half
        return builder.extract_element(v, ir.Constant(_I32, 0))

    def _vector_at(builder, ptr: ir.Value, vec: ir.VectorType) -> ir.Value:
        # The element pointer as a pointer to a vector of its type.
        return builder.bitcast(ptr, vec.as_pointer())

    def _arrays(context, builder, signature, args, n: int) -> list:
        # The first n arguments' array structs (data pointer, shape).
        pairs = zip(signature.args[:n], args[:n], strict=True)
        return [context.make_array(ty)(context, builder, value) for ty, value in pairs]

    def _arithmetic(builder, dtype, vec: ir.VectorType):
        """``(madd, add)`` for vectors and scalars of ``dtype``: fused for floats, exact ints."""
        if isinstance(dtype, types.Float):
            width = dtype.bitwidth
            fma_v = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec] * 3), f"llvm.fma.v{vec.count}f{width}"
            )
            scalar = vec.element
            fma_s = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(scalar, [scalar] * 3), f"llvm.fma.f{width}"
            )

            def madd(a, b, c):
                return builder.call(
                    fma_v if isinstance(a.type, ir.VectorType) else fma_s, [a, b, c]
                )

            return madd, builder.fadd

        def madd_int(a, b, c):
            return builder.add(builder.mul(a, b), c)

        return madd_int, builder.add

    def _row_sums(builder, g, rows: int, cols: int) -> None:
        # Emits one block of rows x cols outputs (compile-time sizes) for :func:`row_block`;
        # g holds the values every block shares.
        cells = [(r, c) for r in range(rows) for c in range(cols)]
        # A small block keeps several sums per output, so that enough multiply-adds are in
        # flight to hide their latency (one vector sum is one dependency chain).
        ways = max(1, CHAINS // len(cells))
        sums = {
            rc: [cgutils.alloca_once_value(builder, ir.Constant(g.vec, None)) for _ in range(ways)]
            for rc in cells
        }
        tails = {rc: cgutils.alloca_once_value(builder, ir.Constant(g.elem, None)) for rc in cells}

        def load_vec(ptr):
            return builder.load(_vector_at(builder, ptr, g.vec), align=g.align)

        def accumulate(acc, x, k):
            builder.store(g.madd(x, k, builder.load(acc)), acc)

        with cgutils.for_range(builder, g.kh) as kernel_row:
            a = kernel_row.index
            k_row = builder.gep(g.k, [builder.mul(a, g.length)])
            starts = {}
            for r in range(rows):
                x_row = builder.add(builder.mul(builder.add(g.i, _const(r)), g.sh), a)
                at = builder.add(builder.mul(x_row, g.x_width), g.first_col)
                for c in range(cols):
                    offset = builder.add(at, builder.mul(g.step, _const(c)))
                    starts[r, c] = builder.gep(g.x, [offset])
            grouped = builder.mul(builder.udiv(g.full, _const(ways)), _const(ways))
            with cgutils.for_range_slice(builder, _const(0), grouped, _const(ways)) as (q, _):
                for w in range(ways):
                    t = builder.mul(builder.add(q, _const(w)), _const(g.lanes))
                    kv = load_vec(builder.gep(k_row, [t]))
                    for rc in cells:
                        accumulate(sums[rc][w], load_vec(builder.gep(starts[rc], [t])), kv)
            with cgutils.for_range_slice(builder, grouped, g.full, _const(1)) as (q, _):
                t = builder.mul(q, _const(g.lanes))
                kv = load_vec(builder.gep(k_row, [t]))
                for rc in cells:
                    accumulate(sums[rc][0], load_vec(builder.gep(starts[rc], [t])), kv)
            with builder.if_else(g.vector_tail) as (overlapping, scalar):
                with overlapping:
                    # The last vector of the row, overlapping the one before it; the lanes
                    # already summed are zeroed (a select, so an inf there stays out).
                    t = builder.sub(g.length, _const(g.lanes))
                    kv = builder.select(g.fresh, load_vec(builder.gep(k_row, [t])), g.zeros)
                    for rc in cells:
                        xv = load_vec(builder.gep(starts[rc], [t]))
                        accumulate(sums[rc][0], builder.select(g.fresh, xv, g.zeros), kv)
                with scalar:
                    tail = cgutils.for_range_slice(builder, g.tail_start, g.length, _const(1))
                    with tail as (t, _):
                        kt = builder.load(builder.gep(k_row, [t]))
                        for rc in cells:
                            accumulate(tails[rc], builder.load(builder.gep(starts[rc], [t])), kt)

        for r, c in cells:
            vector = builder.load(sums[r, c][0])
            for acc in sums[r, c][1:]:
                vector = g.add(vector, builder.load(acc))
            lane_sum = _lane_sum(builder, vector, g.lanes, g.add)
            total = g.add(lane_sum, builder.load(tails[r, c]))
            at = builder.add(
                builder.mul(builder.add(g.i, _const(r)), g.out_width), builder.add(g.j, _const(c))
            )
            builder.store(total, builder.gep(g.out, [at]))

    @intrinsic
    def row_block(typingctx, xp, k2, out, i, j, sh, step, n_rows, n_cols):
        """``out[i : i + n_rows, j : j + n_cols]`` (``1 <= n_rows <= BLOCK_ROWS``, ``1 <= n_cols
        <= BLOCK_COLS``): each the sum over kernel rows ``a`` of
        ``dot(xp[(i + r) * sh + a, (j + c) * step :][:L], k2[a])``.

        Shapes: ``xp`` (Hp, Wp * C) and ``k2`` (kh, L = kw * C), both C-contiguous; ``out``
        (Ho, Wo), C-contiguous. The caller keeps the block inside ``out`` and the windows inside
        ``xp``; nothing is bounds-checked.

        Cost: ``n_rows * n_cols * kh * L`` multiply-adds, one kernel vector load per
        ``n_rows * n_cols`` of them; rows shorter than a vector are summed as scalars. Every
        block size is its own code (a switch on the size), so the full block's addresses are
        one base and constant offsets.
        """
        if not (xp.dtype == k2.dtype == out.dtype) or any(a.layout != "C" for a in (xp, k2, out)):
            return None  # the loads below assume one dtype and C-contiguous rows
        sig = types.void(xp, k2, out, i, j, sh, step, n_rows, n_cols)

        def codegen(context, builder, signature, args):
            dtype = signature.args[0].dtype
            xa, ka, oa = _arrays(context, builder, signature, args, 3)
            g = SimpleNamespace(x=xa.data, k=ka.data, out=oa.data)
            g.i, g.j, g.sh, g.step, n_rows, n_cols = args[3:]
            g.elem = context.get_data_type(dtype)
            g.align = context.get_abi_sizeof(g.elem)  # the windows start at any element
            g.lanes = VECTOR_BYTES // g.align
            g.vec = ir.VectorType(g.elem, g.lanes)
            g.madd, g.add = _arithmetic(builder, dtype, g.vec)
            g.kh, g.length = cgutils.unpack_tuple(builder, ka.shape, 2)
            g.x_width = cgutils.unpack_tuple(builder, xa.shape, 2)[1]
            g.out_width = cgutils.unpack_tuple(builder, oa.shape, 2)[1]
            g.first_col = builder.mul(g.j, g.step)
            g.full = builder.udiv(g.length, _const(g.lanes))
            g.tail_start = builder.mul(g.full, _const(g.lanes))
            rest = builder.sub(g.length, g.tail_start)
            # A row of L = full * lanes + rest values ends in one overlapping vector when it
            # holds at least one vector and rest > 0; shorter rows are summed as scalars.
            g.vector_tail = builder.and_(
                builder.icmp_unsigned("!=", rest, _const(0)),
                builder.icmp_unsigned("!=", g.full, _const(0)),
            )
            lane_ids = ir.Constant(ir.VectorType(_I64, g.lanes), list(range(g.lanes)))
            first_fresh = _splat(builder, builder.sub(_const(g.lanes), rest), g.lanes)
            g.fresh = builder.icmp_unsigned(">=", lane_ids, first_fresh)
            g.zeros = ir.Constant(g.vec, None)

            done = builder.append_basic_block("block.done")
            size = builder.add(builder.mul(n_rows, _const(BLOCK_COLS + 1)), n_cols)
            switch = builder.switch(size, done)
            for rows in range(1, BLOCK_ROWS + 1):
                for cols in range(1, BLOCK_COLS + 1):
                    body = builder.append_basic_block(f"block.{rows}x{cols}")
                    switch.add_case(_const(rows * (BLOCK_COLS + 1) + cols), body)
                    with builder.goto_block(body):
                        _row_sums(builder, g, rows, cols)
                        builder.branch(done)
            builder.position_at_end(done)
            return context.get_dummy_value()

        return sig, codegen

    #: Accumulator vectors of one grid block: 12 of AVX2's 16 registers (48 float64 outputs).
    GRID_VECTORS = 12

    @intrinsic
    def grid_block(typingctx, grids, weights, offsets, wide, start):
        """``wide[start : start + B] = sum_t weights[t] * grids[offsets[t] + start :][:B]``, with
        ``B = GRID_VECTORS * VECTOR_BYTES // itemsize`` (48 float64, 96 float32).

        Shapes: ``grids`` and ``wide`` flat, ``weights`` and ``offsets`` (T,); the caller keeps
        every read inside ``grids`` and the block inside ``wide``; nothing is bounds-checked.

        Cost: ``B * T`` multiply-adds with the ``B`` sums in registers throughout: per tap one
        broadcast weight and ``GRID_VECTORS`` input vector loads, no load or store of the output.
        """
        if not (grids.dtype == weights.dtype == wide.dtype):
            return None
        sig = types.void(grids, weights, offsets, wide, start)

        def codegen(context, builder, signature, args):
            ga, wa, oa, outa = _arrays(context, builder, signature, args, 4)
            start = args[4]
            elem = context.get_data_type(signature.args[0].dtype)
            itemsize = context.get_abi_sizeof(elem)
            lanes = VECTOR_BYTES // itemsize
            vec = ir.VectorType(elem, lanes)
            madd, _ = _arithmetic(builder, signature.args[0].dtype, vec)
            n_taps = cgutils.unpack_tuple(builder, wa.shape, 1)[0]
            sums = [
                cgutils.alloca_once_value(builder, ir.Constant(vec, None))
                for _ in range(GRID_VECTORS)
            ]
            with cgutils.for_range(builder, n_taps) as tap:
                t = tap.index
                weight = builder.load(builder.gep(wa.data, [t]))
                wv = _splat(builder, weight, lanes)
                base = builder.gep(
                    ga.data, [builder.add(builder.load(builder.gep(oa.data, [t])), start)]
                )
                for k, acc in enumerate(sums):
                    at = _vector_at(builder, builder.gep(base, [_const(k * lanes)]), vec)
                    xv = builder.load(at, align=itemsize)
                    builder.store(madd(xv, wv, builder.load(acc)), acc)
            out = builder.gep(outa.data, [start])
            for k, acc in enumerate(sums):
                at = _vector_at(builder, builder.gep(out, [_const(k * lanes)]), vec)
                builder.store(builder.load(acc), at, align=itemsize)
            return context.get_dummy_value()

        return sig, codegen

    #: Vectors per row of a grid block (:func:`grid_rows`): GRID_ROWS x 6 = 12 accumulators,
    #: as in :func:`grid_block`, but each input vector loaded serves both rows. Measured side
    #: by side (2D strides 1-3, f = 5-23, depth 3 at stride 1, float32/float64): 2 x 6 was
    #: x1.07-x1.69 the flat blocks, 3 x 4 x1.0-x1.56.
    GRID_ROW_VECTORS = ROW_BLOCK_BYTES // VECTOR_BYTES

    def _grid_row_sums(builder, g, rows: int) -> None:
        # Emits one block of ``rows`` output rows (a compile-time size) for :func:`grid_rows`.
        sums = [
            [cgutils.alloca_once_value(builder, ir.Constant(g.vec, None)) for _ in range(g.width)]
            for _ in range(rows)
        ]

        def load_vec(base, v):
            at = _vector_at(builder, builder.gep(base, [_const(v * g.lanes)]), g.vec)
            return builder.load(at, align=g.itemsize)

        def accumulate(acc, x, w):
            builder.store(g.madd(x, w, builder.load(acc)), acc)

        def tap_base(offsets, t):
            return builder.gep(
                g.grids, [builder.add(builder.load(builder.gep(offsets, [t])), g.start)]
            )

        # Shared taps: one load of each input vector, one multiply-add per row.
        with cgutils.for_range(builder, g.n_shared) as loop:
            t = loop.index
            base = tap_base(g.shared_off, t)
            first = builder.mul(t, _const(rows))
            weights = [
                _splat(
                    builder,
                    builder.load(builder.gep(g.shared_w, [builder.add(first, _const(r))])),
                    g.lanes,
                )
                for r in range(rows)
            ]
            for v in range(g.width):
                x = load_vec(base, v)
                for r in range(rows):
                    accumulate(sums[r][v], x, weights[r])
        # Taps that only one row of the block needs (the ends of each kernel column).
        for r in range(rows):
            lo = builder.load(builder.gep(g.single_starts, [_const(r)]))
            hi = builder.load(builder.gep(g.single_starts, [_const(r + 1)]))
            with cgutils.for_range_slice(builder, lo, hi, _const(1)) as (t, _):
                base = tap_base(g.single_off, t)
                w = _splat(builder, builder.load(builder.gep(g.single_w, [t])), g.lanes)
                for v in range(g.width):
                    accumulate(sums[r][v], load_vec(base, v), w)
        for r in range(rows):
            row = builder.add(builder.mul(builder.add(g.i, _const(r)), g.out_width), g.j)
            out = builder.gep(g.out, [row])
            for v in range(g.width):
                at = _vector_at(builder, builder.gep(out, [_const(v * g.lanes)]), g.vec)
                builder.store(builder.load(sums[r][v]), at, align=g.itemsize)

    @intrinsic
    def grid_rows(
        typingctx,
        grids,
        shared_off,
        shared_w,
        single_off,
        single_w,
        single_starts,
        out,
        start,
        i,
        j,
        n_rows,
    ):
        """``out[i + r, j : j + B]`` for ``r < n_rows`` (1 or :data:`GRID_ROWS`), ``B =
        GRID_ROW_VECTORS * VECTOR_BYTES // itemsize`` (24 float64, 48 float32): output ``(i + r,
        j + n)`` is the sum over taps of ``weight * grids[start + offset + n]`` (``start`` the
        wide index of ``(i, j)``), read from two tables (:func:`_row_taps`):

        * shared taps ``shared_off (S,)``, ``shared_w (S, n_rows)``: an input vector loaded once
          is multiplied into every row's sums, with that row's weight;
        * single taps ``single_off``, ``single_w``, row ``r``'s from ``single_starts[r]`` to
          ``single_starts[r + 1]``.

        Shapes: ``grids`` flat, ``out`` (Ho, Wo) C-contiguous; the caller keeps every read inside
        ``grids`` and the block inside ``out``; nothing is bounds-checked.

        Cost: ``n_rows * B`` sums in registers while all taps pass; per shared tap
        ``GRID_ROW_VECTORS`` input loads for ``n_rows * GRID_ROW_VECTORS`` multiply-adds.
        """
        arrays = (grids, shared_off, shared_w, single_off, single_w, single_starts, out)
        if not (grids.dtype == shared_w.dtype == single_w.dtype == out.dtype):
            return None
        if any(a.layout != "C" for a in arrays):
            return None
        sig = types.void(*arrays, start, i, j, n_rows)

        def codegen(context, builder, signature, args):
            ga, soa, swa, sia, siw, ssa, oa = _arrays(context, builder, signature, args, 7)
            dtype = signature.args[0].dtype
            g = SimpleNamespace(grids=ga.data, out=oa.data)
            g.shared_off, g.shared_w = soa.data, swa.data
            g.single_off, g.single_w, g.single_starts = sia.data, siw.data, ssa.data
            g.start, g.i, g.j = args[7:10]
            elem = context.get_data_type(dtype)
            g.itemsize = context.get_abi_sizeof(elem)
            g.lanes = VECTOR_BYTES // g.itemsize
            g.vec = ir.VectorType(elem, g.lanes)
            g.width = GRID_ROW_VECTORS
            g.madd, _ = _arithmetic(builder, dtype, g.vec)
            g.n_shared = cgutils.unpack_tuple(builder, soa.shape, 1)[0]
            g.out_width = cgutils.unpack_tuple(builder, oa.shape, 2)[1]
            done = builder.append_basic_block("rows.done")
            switch = builder.switch(args[10], done)
            for rows in sorted({1, GRID_ROWS}):
                body = builder.append_basic_block(f"rows.{rows}")
                switch.add_case(_const(rows), body)
                with builder.goto_block(body):
                    _grid_row_sums(builder, g, rows)
                    builder.branch(done)
            builder.position_at_end(done)
            return context.get_dummy_value()

        return sig, codegen

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
    def _row_taps(kernel, sh, sw, cols, size, n_rows):  # pragma: no cover - compiled
        # The tap tables of grid_rows for blocks of n_rows output rows. Output row i + 1 reads
        # with tap (a, b) what row i reads with tap (a + sh, b): along one kernel column of one
        # phase the offsets step by a grid row (cols). Offset u of such a column (u counted in
        # grid rows) serves row r with the column's tap u - r: shared when every row has one,
        # else a single tap of each row that has.
        kh, kw, c = kernel.shape
        n_shared = 0
        counts = np.zeros(n_rows, dtype=np.int64)
        for p in range(min(sh, kh)):
            n = (kh - p + sh - 1) // sh  # taps in each kernel column of phase p
            for u in range(n + n_rows - 1):
                if n_rows - 1 <= u < n:
                    n_shared += c * kw
                else:
                    for r in range(max(0, u - n + 1), min(n_rows - 1, u) + 1):
                        counts[r] += c * kw
        shared_off = np.empty(n_shared, dtype=np.int64)
        shared_w = np.empty((n_shared, n_rows), dtype=kernel.dtype)
        starts = np.zeros(n_rows + 1, dtype=np.int64)
        starts[1:] = np.cumsum(counts)
        single_off = np.empty(starts[n_rows], dtype=np.int64)
        single_w = np.empty(starts[n_rows], dtype=kernel.dtype)
        fill = starts[:n_rows].copy()
        s = 0
        for k in range(c):
            for p in range(min(sh, kh)):
                n = (kh - p + sh - 1) // sh
                for b in range(kw):
                    base = ((k * sh + p) * sw + b % sw) * size + b // sw
                    for u in range(n + n_rows - 1):
                        at = base + u * cols
                        if n_rows - 1 <= u < n:
                            shared_off[s] = at
                            for r in range(n_rows):
                                shared_w[s, r] = kernel[p + (u - r) * sh, b, k]
                            s += 1
                        else:
                            for r in range(max(0, u - n + 1), min(n_rows - 1, u) + 1):
                                single_off[fill[r]] = at
                                single_w[fill[r]] = kernel[p + (u - r) * sh, b, k]
                                fill[r] += 1
        return shared_off, shared_w, single_off, single_w, starts

    @_jit
    def _block_rows(grids, tables, out, first, stop, n_rows, cols, width):  # pragma: no cover
        # grid_rows over the output rows [first, stop), n_rows at a time, each row's columns in
        # blocks of width; the last block of a row overlaps the one before it (its outputs
        # computed twice, alike).
        shared_off, shared_w, single_off, single_w, starts = tables
        wo = out.shape[1]
        for i in range(first, stop, n_rows):
            for j0 in range(0, wo, width):
                j = min(j0, wo - width)
                grid_rows(
                    grids, shared_off, shared_w, single_off, single_w, starts, out,
                    i * cols + j, i, j, n_rows,
                )  # fmt: skip

    @_jit
    def _from_grids(grids, kernel, sh, sw, ho, wo, rows, cols, chunk):  # pragma: no cover
        weights, offsets = _taps(kernel, sh, sw, rows, cols)
        width = ROW_BLOCK_BYTES // grids.itemsize
        if wo >= width:
            # Blocks of GRID_ROWS rows x width columns straight into the result.
            out = np.empty((ho, wo), dtype=grids.dtype)
            tables = _row_taps(kernel, sh, sw, cols, rows * cols, GRID_ROWS)
            paired = ho - ho % GRID_ROWS
            _block_rows(grids, tables, out, 0, paired, GRID_ROWS, cols, width)
            # The last row when Ho is odd: every tap its own, shared with no other row.
            alone = (
                offsets,
                weights.reshape(weights.shape[0], 1),
                np.empty(0, dtype=np.int64),
                np.empty(0, dtype=grids.dtype),
                np.zeros(2, dtype=np.int64),
            )
            _block_rows(grids, alone, out, paired, ho, 1, cols, width)
            return out
        # Row i of the wide output starts at i * cols; the last row stops at Wo, so no tap
        # reads past the end of its grid.
        wide = np.zeros((ho - 1) * cols + wo, dtype=grids.dtype)
        # Vector blocks with their sums in registers, then the last partial block in chunks.
        size = GRID_VECTORS * VECTOR_BYTES // grids.itemsize
        blocked = wide.shape[0] - wide.shape[0] % size
        for start in range(0, blocked, size):
            grid_block(grids, weights, offsets, wide, start)
        _accumulate(grids[blocked:], weights, offsets, wide[blocked:], chunk)
        out = np.empty((ho, wo), dtype=grids.dtype)
        for i in range(ho):
            out[i, :] = wide[i * cols : i * cols + wo]
        return out

    @_jit
    def _rows(xp, k2, ho, wo, sh, step):  # pragma: no cover - compiled
        # xp (Hp, Wp * C) and k2 (kh, kw * C), both channel-last and contiguous; output (i, j)
        # starts at row i * sh, value j * step (step = sw * C). Vector blocks of
        # BLOCK_ROWS x BLOCK_COLS outputs, partial ones at the last rows and columns.
        out = np.empty((ho, wo), dtype=xp.dtype)
        for i in range(0, ho, BLOCK_ROWS):
            rows = min(BLOCK_ROWS, ho - i)
            for j in range(0, wo, BLOCK_COLS):
                row_block(xp, k2, out, i, j, sh, step, rows, min(BLOCK_COLS, wo - j))
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

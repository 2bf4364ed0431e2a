"""The single-core float64 GEMM peak: the yardstick for how far a method is from the machine.

A direct correlation does the same multiply-adds as a matrix product, so the best a method can
hope for on one core is about what BLAS's GEMM reaches there. :func:`gemm_peak_gflops` times a
square ``float64`` matmul on one BLAS thread and keeps its best sample; the runner measures it
once per run in a fresh worker and records it in the sidecar (``gemm_peak_gflops``), where
``plot --metric gflops`` and the report read it to show GFLOP/s as a percentage of it.
"""

from __future__ import annotations

import time

import numpy as np

#: Side of the square matrices: large enough for BLAS's blocked kernel to reach its peak, small
#: enough (3 x 512 KiB) to stay in cache and cost ~1 ms per product.
GEMM_SIZE = 256
#: Products timed; the best one counts (a busy machine only ever makes a product slower).
GEMM_SAMPLES = 20


def gemm_peak_gflops(size: int = GEMM_SIZE, samples: int = GEMM_SAMPLES) -> float:
    """Best GFLOP/s of ``samples`` ``(size, size) @ (size, size)`` float64 products (written into
    a preallocated output), with BLAS limited to one thread. Cost: ``samples + 1`` products
    (~20 ms at 50 GFLOP/s)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    out = np.empty((size, size))
    best = np.inf
    with threadpool_limits(limits=1, user_api="blas"):
        np.matmul(a, b, out=out)  # warm: BLAS's buffers and the pages of out
        for _ in range(samples):
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best / 1e9

"""Every method against the oracle, the oracle against scipy, and the published errors."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from convbench import available_methods, correlate
from convbench.cases import Case, make_inputs
from convbench.methods import get_method, published
from convbench.methods._common import windows_bytes
from convbench.verify import check, tolerance

METHODS = available_methods()
DTYPES = ("int64", "float32", "float64")
STRIDE2 = [[91, 100, 88], [69, 91, 117], [44, 72, 74]]
STRIDE1_ROW0 = [91, 80, 100, 84, 88]


@pytest.mark.parametrize("name", METHODS)
def test_seed_example_stride2(name, seed_example):
    out = correlate(*seed_example, stride=2, method=name)
    assert out.dtype == np.int64
    assert out.tolist() == STRIDE2


@pytest.mark.parametrize("name", METHODS)
def test_seed_example_stride1(name, seed_example):
    out = correlate(*seed_example, stride=1, method=name)
    assert out.shape == (5, 5)
    assert out[0].tolist() == STRIDE1_ROW0


@st.composite
def cases(draw, max_side: int = 10) -> tuple[Case, int]:
    """Small feasible cases: non-square, even/odd kernels, any stride, padding, depth 0..8."""
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    kh = draw(st.integers(1, min(h + 2 * ph, 6)))
    kw = draw(st.integers(1, min(w + 2 * pw, 6)))
    depth = draw(st.integers(0, 8))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dtype = draw(st.sampled_from(DTYPES))
    return Case((h, w), (kh, kw), depth, stride, (ph, pw), dtype), draw(st.integers(0, 2**16))


def _agree(out: np.ndarray, expected: np.ndarray, case: Case, x, kernel) -> None:
    ok, _, message = check(out, expected, dtype=case.dtype, tol=tolerance(case, x, kernel))
    assert ok, f"{case.label()}: {message}"


@pytest.mark.parametrize("name", [m for m in METHODS if m != "loops"])
@settings(max_examples=40, deadline=None)
@given(drawn=cases())
def test_method_matches_loops(name, drawn):
    case, seed = drawn
    method = get_method(name)
    if method.supports(case):
        return
    x, kernel = make_inputs(case, np.random.default_rng(seed))
    expected = get_method("loops")(x, kernel, case.stride, case.padding)
    out = method(x, kernel, case.stride, case.padding)
    _agree(out, expected.astype(np.float64) if case.dtype != "int64" else expected, case, x, kernel)


def scipy_direct(x: np.ndarray, kernel: np.ndarray, stride, padding) -> np.ndarray:
    """Independent of loops: scipy's direct correlation of the np.pad-ded input, then [::s]."""
    wide = np.int64 if x.dtype.kind == "i" else np.float64
    pads = ((padding[0],) * 2, (padding[1],) * 2) + ((0, 0),) * (x.ndim - 2)
    full = scipy.signal.correlate(
        np.pad(x.astype(wide), pads), kernel.astype(wide), mode="valid", method="direct"
    )
    return full.reshape(full.shape[:2])[:: stride[0], :: stride[1]]


@settings(max_examples=60, deadline=None)
@given(drawn=cases(max_side=14))
def test_loops_matches_scipy_direct(drawn):
    case, seed = drawn
    x, kernel = make_inputs(case, np.random.default_rng(seed))
    out = get_method("loops")(x, kernel, case.stride, case.padding)
    assert out.shape == case.output_size
    assert out.dtype == np.dtype(case.dtype)
    _agree(out, scipy_direct(x, kernel, case.stride, case.padding), case, x, kernel)


@pytest.mark.parametrize("name", METHODS)
def test_integer_results_are_exact_with_large_values(name):
    # Values near 2**20 make every product ~2**40: any float round-off would show.
    rng = np.random.default_rng(7)
    x = rng.integers(-(2**20), 2**20, size=(13, 11, 3))
    kernel = rng.integers(-(2**20), 2**20, size=(4, 3, 3))
    out = correlate(x, kernel, stride=(2, 3), padding=1, method=name)
    expected = scipy_direct(x, kernel, (2, 3), (1, 1))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("name", METHODS)
def test_float32_stays_float32(name):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 9, 2)).astype(np.float32)
    kernel = rng.standard_normal((3, 4, 2)).astype(np.float32)
    assert correlate(x, kernel, stride=2, method=name).dtype == np.float32


# --- memory estimates -----------------------------------------------------------------------

MEMORY_CASE = Case((48, 40), (6, 5), depth=3, stride=(2, 3), padding=(1, 2), dtype="float64")


def _traced_peak(name: str, case: Case) -> int:
    x, kernel = make_inputs(case, np.random.default_rng(0))
    method = get_method(name)
    method(x, kernel, case.stride, case.padding)  # warm caches (FFT plans, imports)
    tracemalloc.start()
    try:
        method(x, kernel, case.stride, case.padding)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", ["strided-view", "strided-tensordot", "im2col-gemm"])
def test_window_copying_methods_do_materialise_the_windows(name):
    assert _traced_peak(name, MEMORY_CASE) >= windows_bytes(MEMORY_CASE)


def test_strided_einsum_stays_small():
    case = Case((96, 80), (9, 9), depth=3, stride=(2, 2), dtype="float64")
    assert _traced_peak("strided-einsum", case) < windows_bytes(case) / 20


def test_toeplitz_estimate_grows_like_outputs_times_inputs():
    small = Case((20, 20), (3, 3), depth=2)
    big = Case((40, 40), (3, 3), depth=2)
    ratio = get_method("toeplitz").estimate_bytes(big) / get_method("toeplitz").estimate_bytes(
        small
    )
    expected = (38 * 38 * 40 * 40) / (18 * 18 * 20 * 20)
    assert ratio == pytest.approx(expected, rel=0.05)


# --- the study's published forms ------------------------------------------------------------


def _rng_pair(shape_x, shape_k, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(-9, 10, size=shape_x), rng.integers(-9, 10, size=shape_k)


def test_unflipped_fft_is_wrong_for_an_asymmetric_kernel(seed_example):
    x, kernel = seed_example
    wrong = np.rint(published.fft_unflipped(x, kernel, 2)).astype(np.int64)
    assert wrong.shape == (3, 3)
    assert not np.array_equal(wrong, STRIDE2)
    # ... because it correlates with the kernel rotated by 180 degrees.
    rotated = correlate(x, kernel[::-1, ::-1], stride=2, method="loops")
    np.testing.assert_array_equal(wrong, rotated)


def test_unflipped_fft_is_right_for_a_180_degree_symmetric_kernel():
    x, half = _rng_pair((11, 9), (4, 5))
    symmetric = half + half[::-1, ::-1]
    assert not np.array_equal(symmetric, symmetric.T)  # symmetric by rotation only
    got = published.fft_unflipped(x, symmetric, 2)
    np.testing.assert_allclose(got, correlate(x, symmetric, stride=2, method="loops"), atol=1e-9)


def test_flipping_only_the_spatial_axes_is_wrong_with_depth():
    x, kernel = _rng_pair((10, 9, 4), (3, 3, 4), seed=1)
    expected = correlate(x, kernel, stride=2, method="loops")
    wrong = np.rint(published.fft_flip_spatial_only(x, kernel, 2))
    assert wrong.shape == expected.shape
    assert not np.array_equal(wrong, expected)
    # What it computes instead: channel c against kernel channel C-1-c.
    np.testing.assert_array_equal(wrong, correlate(x, kernel[..., ::-1], stride=2, method="loops"))


@pytest.mark.parametrize("kernel_shape", [(2, 2), (4, 6), (3, 4), (5, 5)])
def test_flipped_fft_works_for_even_kernels_too(kernel_shape):
    # The answer worried it "only works for odd kernels"; 'valid' mode has no centring issue.
    x, kernel = _rng_pair((12, 13), kernel_shape, seed=2)
    got = np.rint(published.fft_flipped_subsampled(x, kernel, 3)).astype(np.int64)
    np.testing.assert_array_equal(got, correlate(x, kernel, stride=3, method="loops"))
    np.testing.assert_array_equal(got, correlate(x, kernel, stride=3, method="fft"))


def test_published_polyphase_has_garbage_outside_the_valid_block(seed_example):
    x, kernel = seed_example
    grid = np.rint(published.polyphase_uncropped(x, kernel, 2)).astype(np.int64)
    assert grid.shape == (6, 6)
    np.testing.assert_array_equal(grid[:3, :3], STRIDE2)
    assert np.any(grid[3:, :] != 0) and np.any(grid[:, 3:] != 0)
    np.testing.assert_array_equal(correlate(x, kernel, stride=2, method="fft-polyphase"), STRIDE2)


def test_torch_method_is_registered_when_torch_imports():
    pytest.importorskip("torch")
    assert "torch" in METHODS
    assert get_method("torch").family == "library"


@pytest.mark.parametrize("name", available_methods())
def test_every_method_takes_views_with_negative_and_odd_strides(name):
    # Reversed, sliced and Fortran-ordered inputs must give the same answer as a plain copy:
    # a reversed length-1 axis is "contiguous" to numpy yet has a negative stride (torch refuses).
    rng = np.random.default_rng(7)
    base = rng.integers(-9, 10, size=(12, 1, 2)).astype(np.float64)
    kernel = rng.integers(-9, 10, size=(1, 1, 2)).astype(np.float64)
    expected = correlate(base, kernel, stride=(4, 3), method="loops")
    for view in (base[::-1].copy()[::-1], np.asfortranarray(base), np.repeat(base, 2, 0)[::2]):
        out = correlate(view, kernel, stride=(4, 3), method=name)
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-9)

"""Layer mode: every layer method against the question's loops, the API's checks, the registry."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convbench
from convbench.cases import Case
from convbench.errors import Unsupported
from convbench.layer import (
    available_layer_methods,
    conv2d_layer,
    get_layer_method,
    make_inputs,
    reference,
    registered,
)
from convbench.layer import gemm as layer_gemm
from convbench.layer import library as layer_library
from convbench.layer.auto import choose

HAS_TORCH = importlib.util.find_spec("torch") is not None
TOLERANCE = {"float32": dict(rtol=1e-4, atol=1e-4), "float64": dict(rtol=1e-10, atol=1e-10)}


@st.composite
def layer_cases(draw: st.DrawFn) -> Case:
    """Small feasible layer cases, including N = 1, F = 1, C = 1, odd strides and padding."""
    while True:
        case = Case(
            input_size=(draw(st.integers(1, 7)), draw(st.integers(1, 7))),
            kernel_size=(draw(st.integers(1, 4)), draw(st.integers(1, 4))),
            depth=draw(st.integers(1, 3)),
            stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
            padding=(draw(st.integers(0, 2)), draw(st.integers(0, 2))),
            dtype=draw(st.sampled_from(["int64", "float32", "float64"])),
            batch=draw(st.integers(1, 2)),
            filters=draw(st.integers(1, 3)),
        )
        if case.feasible:
            return case


def assert_matches(got: np.ndarray, want: np.ndarray, dtype: str) -> None:
    assert got.shape == want.shape
    assert got.dtype == np.dtype(dtype)
    if dtype == "int64":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, **TOLERANCE[dtype])


def run_method(name: str, case: Case, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(method output, loops output) for ``case``, or None when the method does not support it."""
    x, w = make_inputs(case, np.random.default_rng(seed))
    method = get_layer_method(name)
    if method.supports(case):
        with pytest.raises(Unsupported):
            conv2d_layer(x, w, case.stride, case.padding, method=name)
        return None
    want = get_layer_method("loops").func(x, w, case.stride, case.padding)
    return conv2d_layer(x, w, case.stride, case.padding, method=name), want


@pytest.mark.parametrize("name", [n for n in available_layer_methods() if n != "loops"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=layer_cases(), seed=st.integers(0, 2**16))
def test_every_method_matches_the_loops(name: str, case: Case, seed: int) -> None:
    result = run_method(name, case, seed)
    if result is not None:
        assert_matches(*result, case.dtype)


@settings(max_examples=40, deadline=None)
@given(case=layer_cases(), seed=st.integers(0, 2**16))
def test_reference_matches_the_loops(case: Case, seed: int) -> None:
    x, w = make_inputs(case, np.random.default_rng(seed))
    want = get_layer_method("loops").func(x, w, case.stride, case.padding)
    assert_matches(reference(x, w, case.stride, case.padding), want, case.dtype)


def test_loops_follows_the_definition_on_a_hand_case() -> None:
    # x is 1..16 in a 4x4 single-channel image; filter 0 picks the top-left pixel of each
    # window, filter 1 sums the 2x2 window. Stride 2, no padding.
    x = np.arange(1, 17).reshape(1, 4, 4, 1)
    w = np.zeros((2, 2, 1, 2), dtype=np.int64)
    w[0, 0, 0, 0] = 1
    w[:, :, 0, 1] = 1
    out = conv2d_layer(x, w, stride=2, method="loops")
    np.testing.assert_array_equal(out[0, :, :, 0], [[1, 3], [9, 11]])
    np.testing.assert_array_equal(out[0, :, :, 1], [[14, 22], [46, 54]])


@pytest.mark.parametrize(
    "name", ["im2col-gemm", "im2col-blocked", "shift-gemm", "fft-layer", "auto"]
)
def test_fast_methods_on_a_realistic_layer(name: str) -> None:
    case = Case((20, 17), (3, 5), 18, (2, 1), (1, 2), "float32", 3, 8)
    result = run_method(name, case, seed=7)
    assert result is not None
    assert_matches(*result, "float32")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("stride", [1, 2])
def test_shift_gemm_blocks_rows_correctly(monkeypatch, dtype: str, stride: int) -> None:
    # Shrink the block to its 1024-row minimum: 1197 (stride 2) or 4662 rows make several blocks.
    monkeypatch.setattr(layer_gemm, "SHIFT_BLOCK_BYTES", 1)
    case = Case((40, 33), (3, 5), 4, (stride, stride), (1, 2), dtype, 3, 5)
    x, w = make_inputs(case, np.random.default_rng(3))
    want = reference(x, w, case.stride, case.padding)
    assert_matches(layer_gemm.shift_gemm(x, w, case.stride, case.padding), want, dtype)


def test_im2col_blocked_splits_rows_correctly(monkeypatch) -> None:
    # Ho = 12 output rows of Wo * kh*kw*C = 8 * 18 float64 values (1152 bytes): a 5-row target
    # gives blocks of 5, 5 and a partial 2 rows per image.
    monkeypatch.setattr(layer_gemm, "IM2COL_BLOCK_BYTES", 5 * 1152)
    case = Case((23, 9), (3, 2), 3, (2, 1), (1, 0), "float64", 2, 4)
    x, w = make_inputs(case, np.random.default_rng(4))
    want = reference(x, w, case.stride, case.padding)
    assert_matches(layer_gemm.im2col_blocked(x, w, case.stride, case.padding), want, "float64")


def test_integer_inputs_are_exact_and_int64() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(2, 6, 5, 3), dtype=np.uint8)
    w = rng.integers(-128, 128, size=(3, 2, 3, 4), dtype=np.int8)
    want = reference(x.astype(np.int64), w.astype(np.int64), (1, 1), (1, 1))
    for name in ("im2col-gemm", "im2col-blocked", "shift-gemm", "strided-tensordot", "auto"):
        got = conv2d_layer(x, w, padding=1, method=name)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)


def test_float32_stays_float32_and_mixed_floats_widen() -> None:
    x = np.ones((1, 4, 4, 2), dtype=np.float32)
    w = np.ones((3, 3, 2, 1), dtype=np.float32)
    assert conv2d_layer(x, w).dtype == np.float32
    assert conv2d_layer(x, w.astype(np.float64)).dtype == np.float64
    assert conv2d_layer(x, w).shape == (1, 2, 2, 1)


def test_convbench_exports_conv2d_layer() -> None:
    assert convbench.conv2d_layer is conv2d_layer


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs", "match"),
    [
        ((4, 4, 2), (2, 2, 2, 1), {}, "x must be 4D"),
        ((1, 4, 4, 2), (2, 2, 2), {}, "w must be 4D"),
        ((1, 4, 4, 2), (2, 2, 3, 1), {}, "input channels"),
        ((0, 4, 4, 2), (2, 2, 2, 1), {}, "must not be empty"),
        ((1, 4, 4, 2), (2, 2, 2, 0), {}, "must not be empty"),
        ((1, 4, 4, 2), (2, 2, 2, 1), {"stride": 0}, "stride must be >= 1"),
        ((1, 4, 4, 2), (2, 2, 2, 1), {"stride": (1, 2, 3)}, "stride must be an int"),
        ((1, 4, 4, 2), (2, 2, 2, 1), {"padding": -1}, "padding must be >= 0"),
        ((1, 4, 4, 2), (5, 2, 2, 1), {}, "larger than the padded x"),
        ((1, 4, 4, 2), (2, 2, 2, 1), {"method": "nope"}, "unknown layer method 'nope'"),
    ],
)
def test_bad_arguments_name_what_is_wrong(x_shape, w_shape, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        conv2d_layer(np.ones(x_shape), np.ones(w_shape), **kwargs)


@pytest.mark.parametrize("bad", [np.complex128, np.bool_])
def test_non_real_dtypes_are_rejected(bad) -> None:
    with pytest.raises(ValueError, match="w must have an integer or real floating dtype"):
        conv2d_layer(np.ones((1, 3, 3, 1)), np.ones((2, 2, 1, 1), dtype=bad))


def test_fft_refuses_integers() -> None:
    x = np.ones((1, 4, 4, 1), dtype=np.int64)
    with pytest.raises(Unsupported, match=r"fft-layer: .*exact integer"):
        conv2d_layer(x, np.ones((2, 2, 1, 1), dtype=np.int64), method="fft-layer")


def test_operator_matrix_refuses_what_does_not_fit() -> None:
    case = Case((224, 224), (3, 3), 64, (1, 1), (1, 1), "float32", 1, 64)
    method = registered()["operator-matrix"]
    assert "GiB" in method.supports(case)
    assert method.estimate_bytes(case) > 2 << 30


def test_torch_absence_is_a_clean_unsupported(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        layer_library.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch" else real(name, *a),
    )
    with pytest.raises(Unsupported, match="torch is not installed"):
        conv2d_layer(np.ones((1, 3, 3, 1)), np.ones((2, 2, 1, 1)), method="torch-conv2d")


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_torch_refuses_integers() -> None:
    with pytest.raises(Unsupported, match="float32 or float64"):
        conv2d_layer(np.ones((1, 3, 3, 1), int), np.ones((2, 2, 1, 1), int), method="torch-conv2d")


def test_registry_order_and_metadata() -> None:
    names = available_layer_methods()
    assert names[0] == "loops" and names[-1] == "auto"
    assert {"strided-tensordot", "strided-einsum", "im2col-gemm", "shift-gemm"} <= set(names)
    assert {"fft-layer", "operator-matrix", "torch-conv2d"} <= set(names)
    case = Case((32, 32), (3, 3), 8, (1, 1), (1, 1), "float64", 2, 4)
    for method in registered().values():
        assert method.summary
        assert method.estimate_bytes(case) >= 2 * 32 * 32 * 4 * 8  # at least the output


def test_estimates_grow_with_the_patches_matrix() -> None:
    small = Case((32, 32), (3, 3), 8, (1, 1), (1, 1), "float64", 2, 4)
    big = Case((32, 32), (7, 7), 8, (1, 1), (3, 3), "float64", 2, 4)
    im2col = registered()["im2col-gemm"].estimate_bytes
    shift = registered()["shift-gemm"].estimate_bytes
    assert im2col(big) > 4 * im2col(small)
    assert shift(big) < 2 * shift(small)  # shift-gemm never builds patches


def test_make_inputs_shapes_and_dtypes() -> None:
    case = Case((5, 6), (3, 2), 4, dtype="int64", batch=3, filters=7)
    x, w = make_inputs(case, np.random.default_rng(0))
    assert x.shape == (3, 5, 6, 4) and w.shape == (3, 2, 4, 7)
    assert x.dtype == w.dtype == np.int64
    assert x.min() >= -9 and x.max() <= 9


def test_auto_picks_fft_only_for_large_float_kernels() -> None:
    def pick(k: int, stride: int = 1, dtype: str = "float32") -> str:
        return choose(Case((64, 64), (k, k), 8, (stride, stride), (0, 0), dtype, 1, 8))

    assert pick(3) == pick(7) == "im2col-blocked"
    assert pick(11) == pick(15, dtype="float64") == "fft-layer"
    assert pick(11, dtype="int64") == "im2col-blocked"  # FFT cannot be exact
    assert pick(15, stride=2) == "im2col-blocked"  # 225 / 4 taps per stride phase
    x, w = make_inputs(Case((12, 12), (11, 11), 2, batch=1, filters=2), np.random.default_rng(5))
    np.testing.assert_allclose(conv2d_layer(x, w), reference(x, w, (1, 1), (0, 0)), atol=1e-9)

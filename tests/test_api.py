"""The public contract of ``convbench.correlate``: one test per error branch, and normalisation."""

from __future__ import annotations

import numpy as np
import pytest

import convbench
from convbench import Unsupported, correlate
from convbench.methods import registry
from convbench.methods.registry import Method

X = np.arange(30.0).reshape(6, 5)
K = np.ones((2, 3))


def test_kernel_larger_than_padded_input_names_the_kernel():
    with pytest.raises(ValueError, match=r"kernel \(7, 2\) is larger than the padded input"):
        correlate(X, np.ones((7, 2)), method="loops")


def test_padding_makes_a_large_kernel_fit():
    assert correlate(X, np.ones((7, 2)), padding=1, method="loops").shape == (2, 6)


def test_mismatched_depth_names_the_depth():
    with pytest.raises(ValueError, match="kernel depth 2 does not match x depth 3"):
        correlate(np.ones((5, 5, 3)), np.ones((2, 2, 2)), method="loops")


def test_kernel_with_other_ndim_names_the_kernel():
    with pytest.raises(ValueError, match="kernel must have as many dimensions as x"):
        correlate(np.ones((5, 5, 3)), np.ones((2, 2)), method="loops")


def test_x_of_wrong_ndim_names_x():
    with pytest.raises(ValueError, match="x must be 2D"):
        correlate(np.ones(5), np.ones(2), method="loops")


@pytest.mark.parametrize("stride", [0, -1, (1, 0)])
def test_stride_below_one_names_the_stride(stride):
    with pytest.raises(ValueError, match="stride must be >= 1"):
        correlate(X, K, stride=stride, method="loops")


@pytest.mark.parametrize("stride", [1.5, (1, 2, 3), "2", True])
def test_stride_that_is_not_an_int_pair_names_the_stride(stride):
    with pytest.raises(ValueError, match="stride must be an int or a pair of ints"):
        correlate(X, K, stride=stride, method="loops")


@pytest.mark.parametrize("padding", [-1, (0, -2)])
def test_negative_padding_names_the_padding(padding):
    with pytest.raises(ValueError, match="padding must be >= 0"):
        correlate(X, K, padding=padding, method="loops")


@pytest.mark.parametrize("dtype", [complex, bool, object, "U1"])
def test_non_numeric_dtype_names_the_argument(dtype):
    with pytest.raises(ValueError, match="x must have an integer or real floating dtype"):
        correlate(np.zeros((4, 4), dtype=dtype), np.ones((2, 2)), method="loops")
    with pytest.raises(ValueError, match="kernel must have an integer or real floating dtype"):
        correlate(np.ones((4, 4)), np.zeros((2, 2), dtype=dtype), method="loops")


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown method 'nope'; known: loops, "):
        correlate(X, K, method="nope")


def test_unsupported_case_raises_unsupported_with_the_reason(monkeypatch):
    never = Method(
        name="never",
        family="user",
        origin="test",
        func=lambda x, k, s, p: pytest.fail("must not run"),
        estimate_bytes=lambda case: 0,
        supports=lambda case: "no depth" if case.depth else None,
    )
    monkeypatch.setitem(registry.PLAIN._methods, "never", never)
    with pytest.raises(Unsupported, match="never: no depth") as info:
        correlate(np.ones((4, 4, 2)), np.ones((2, 2, 2)), method="never")
    assert isinstance(info.value, ValueError)


def test_stride_and_padding_pairs_and_output_shape():
    out = correlate(np.ones((9, 8)), np.ones((2, 3)), stride=(3, 2), padding=(1, 0), method="loops")
    assert out.shape == (1 + (9 + 2 - 2) // 3, 1 + (8 - 3) // 2)
    # Corner outputs overlap the zero padding: only 1 row of the 2x3 window is inside.
    assert out[0, 0] == 3.0 and out[1, 0] == 6.0


@pytest.mark.parametrize(
    ("x_dtype", "k_dtype", "out_dtype"),
    [
        (np.int32, np.int64, np.int64),
        (np.uint8, np.int16, np.int64),
        (np.float32, np.float32, np.float32),
        (np.float32, np.float64, np.float64),
        (np.int64, np.float32, np.float64),
    ],
)
def test_result_dtype(x_dtype, k_dtype, out_dtype):
    x = np.arange(20).reshape(4, 5).astype(x_dtype)
    out = correlate(x, np.ones((2, 2), dtype=k_dtype), method="loops")
    assert out.dtype == out_dtype
    assert out[0, 0] == 0 + 1 + 5 + 6


def test_available_methods_is_stable_and_starts_with_the_oracle():
    names = convbench.available_methods()
    assert names[0] == "loops"
    assert names == convbench.available_methods()
    assert len(set(names)) == len(names)

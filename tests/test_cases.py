"""Case geometry: output shapes, feasibility, flops and keys."""

from __future__ import annotations

import numpy as np
import pytest

from convbench.cases import Case, as_pair, make_inputs


def test_output_size_matches_the_contract():
    case = Case(input_size=(7, 9), kernel_size=(3, 2), stride=(2, 3), padding=(1, 0))
    # (1 + (H + 2ph - kh) // sh, 1 + (W + 2pw - kw) // sw)
    assert case.output_size == (1 + (7 + 2 - 3) // 2, 1 + (9 - 2) // 3)
    assert case.padded_size == (9, 9)


def test_feasibility_uses_the_padded_input():
    assert not Case(input_size=(4, 4), kernel_size=(5, 5)).feasible
    assert Case(input_size=(4, 4), kernel_size=(5, 5), padding=(1, 1)).feasible


def test_flops_count_every_multiply_add():
    case = Case(input_size=(8, 8), kernel_size=(3, 3), depth=4)
    assert case.flops == 2 * 6 * 6 * 3 * 3 * 4


def test_key_round_trip_and_label():
    case = Case((10, 12), (3, 5), depth=3, stride=(2, 2), padding=(1, 1), dtype="int64")
    assert Case.from_key(case.key()) == case
    assert case.label() == "10x12x3 * 3x5 s2 p1 int64"


@pytest.mark.parametrize("bad", [1.5, (1, 2, 3), "2", True, (1, None)])
def test_as_pair_rejects_non_int_pairs(bad):
    with pytest.raises(ValueError, match="stride must be an int or a pair"):
        as_pair(bad, "stride")


def test_make_inputs_shapes_and_dtypes():
    rng = np.random.default_rng(0)
    x, k = make_inputs(Case((6, 5), (2, 3), depth=4, dtype="int64"), rng)
    assert x.shape == (6, 5, 4) and k.shape == (2, 3, 4)
    assert x.dtype == k.dtype == np.int64
    x, k = make_inputs(Case((6, 5), (2, 3), dtype="float32"), rng)
    assert x.shape == (6, 5) and x.dtype == np.float32

"""The compiled method (`jit-direct`, the optional `[jit]` extra), the GEMM peak it is judged by,
and what naming an optional method that is not installed says."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from convbench import available_methods, correlate
from convbench.cases import Case, make_inputs
from convbench.cli import app
from convbench.config import load_sweep_text
from convbench.errors import ConfigError
from convbench.methods import PLAIN, get_method
from convbench.verify import check, reference, tolerance

JIT = "jit-direct"
needs_jit = pytest.mark.skipif(
    JIT not in available_methods(), reason="numba is not installed (pip install 'convbench[jit]')"
)


@st.composite
def jit_cases(draw) -> tuple[Case, int]:
    """Even and odd kernels up to 12, strides up to 5 that need not divide anything, padding,
    depth 0..8, every dtype; inputs up to 48 so that the wide output spans several chunks."""
    h, w = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    kh = draw(st.integers(1, min(h + 2 * ph, 12)))
    kw = draw(st.integers(1, min(w + 2 * pw, 12)))
    stride = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    depth = draw(st.integers(0, 8))
    dtype = draw(st.sampled_from(("int64", "float32", "float64")))
    return Case((h, w), (kh, kw), depth, stride, (ph, pw), dtype), draw(st.integers(0, 2**16))


@needs_jit
@settings(max_examples=150, deadline=None)
@given(drawn=jit_cases())
def test_jit_matches_the_reference(drawn):
    case, seed = drawn
    x, kernel = make_inputs(case, np.random.default_rng(seed))
    out = get_method(JIT)(x, kernel, case.stride, case.padding)
    expected = reference(x, kernel, case.stride, case.padding)
    ok, _, message = check(out, expected, dtype=case.dtype, tol=tolerance(case, x, kernel))
    assert ok, f"{case.label()}: {message}"


@needs_jit
@pytest.mark.parametrize(
    "case",
    [
        Case((90, 70), (5, 4), 3, (1, 2), (2, 1), "int64"),  # several chunks, taps 4k
        Case((64, 61), (7, 3), 0, (3, 1), (0, 3), "int64"),  # 2D, 21 taps: 4k + 1
        Case((80, 80), (3, 3), 0, (1, 1), (0, 0), "int64"),  # 2D stride 1: the input is the grid
        Case((33, 47), (2, 6), 5, (4, 5), (1, 0), "int64"),  # 60 taps, strides above kernel
    ],
    ids=lambda c: c.label(),
)
def test_integers_are_exact_with_large_values(case):
    rng = np.random.default_rng(5)
    shape = case.input_size + ((case.depth,) if case.depth else ())
    kshape = case.kernel_size + ((case.depth,) if case.depth else ())
    x = rng.integers(-(2**20), 2**20, size=shape)
    kernel = rng.integers(-(2**20), 2**20, size=kshape)
    out = correlate(x, kernel, stride=case.stride, padding=case.padding, method=JIT)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, reference(x, kernel, case.stride, case.padding))


@needs_jit
def test_the_plain_2d_path_and_the_grid_path_agree():
    # A C-contiguous 2D input at stride 1 is read in place; a Fortran-ordered copy of the same
    # values goes through the polyphase grids.
    rng = np.random.default_rng(2)
    x, kernel = rng.standard_normal((70, 50)), rng.standard_normal((6, 5))
    a = correlate(x, kernel, method=JIT)
    b = correlate(np.asfortranarray(x), kernel, method=JIT)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a, reference(x, kernel, (1, 1), (0, 0)), rtol=1e-12, atol=1e-11)


@needs_jit
@pytest.mark.parametrize(
    "case",
    [
        # Grids in blocks of two output rows: an odd number of rows (the last alone), widths
        # that end in an overlapping block, phases whose kernel columns hold 1..3 taps (strides
        # 2-3 on 5 and 7 rows), depth at stride 1, every dtype.
        Case((75, 80), (5, 4), 0, (1, 1), (0, 0), "float64"),
        Case((64, 110), (7, 6), 0, (3, 2), (1, 2), "float32"),
        Case((51, 60), (5, 3), 4, (1, 1), (2, 0), "float64"),
        Case((40, 58), (4, 7), 0, (2, 1), (0, 0), "int64"),
        Case((33, 200), (1, 9), 0, (1, 1), (0, 0), "float32"),  # kernel columns of one tap
    ],
    ids=lambda c: c.label(),
)
def test_grid_blocks_of_two_rows_match_the_reference(case):
    from convbench.methods import jit

    wo = case.output_size[1]
    width = jit.ROW_BLOCK_BYTES // np.dtype(case.dtype).itemsize
    assert wo >= width and not jit.uses_rows(case.channels, case.stride, case.kernel_size[1], wo)
    x, kernel = make_inputs(case, np.random.default_rng(4))
    out = correlate(x, kernel, stride=case.stride, padding=case.padding, method=JIT)
    expected = reference(x, kernel, case.stride, case.padding)
    ok, _, message = check(out, expected, dtype=case.dtype, tol=tolerance(case, x, kernel))
    assert ok, f"{case.label()}: {message}"


@needs_jit
@pytest.mark.parametrize(
    "case",
    [
        # depth at a stride: 23 x 22 outputs, so the 2 x 6 blocks end in a partial row and columns
        Case((70, 66), (6, 5), 3, (3, 3), (2, 1), "float64"),
        Case((70, 66), (6, 5), 3, (3, 3), (2, 1), "int64"),
        Case((40, 41), (36, 37), 0, (1, 1), (1, 0), "float64"),  # 2D, kernel nearly the input
    ],
    ids=lambda c: c.label(),
)
def test_the_row_dots_and_the_grids_agree(case):
    # Both cases take the row dots; the same case through the grids gives the same values.
    from convbench.methods import jit

    x, kernel = make_inputs(case, np.random.default_rng(4))
    assert jit.uses_rows(case.channels, case.stride, case.kernel_size[1], case.output_size[1])
    x3, k3 = (a if a.ndim == 3 else a[:, :, None] for a in (x, kernel))
    rows = correlate(x, kernel, stride=case.stride, padding=case.padding, method=JIT)
    grids = jit._correlate(x3, k3, *case.stride, *case.padding, jit.CHUNK)
    np.testing.assert_allclose(rows, grids, rtol=1e-12, atol=1e-9)
    expected = reference(x, kernel, case.stride, case.padding)
    ok, _, message = check(rows, expected, dtype=case.dtype, tol=tolerance(case, x, kernel))
    assert ok, message


@needs_jit
@pytest.mark.parametrize(
    "case",
    [
        # Row dots whose rows (kw * C values) end in an overlapping vector: 25 float64 (4
        # lanes), 15 float32 (8 lanes); and rows shorter than a vector (6 float32).
        Case((41, 45), (5, 5), 5, (2, 2), (0, 0), "float64"),
        Case((40, 44), (5, 5), 3, (2, 3), (1, 0), "float32"),
        Case((30, 30), (3, 3), 2, (2, 2), (0, 0), "float32"),
        Case((60, 70), (6, 5), 0, (1, 1), (0, 0), "float64"),  # the grids
    ],
    ids=lambda c: c.label(),
)
def test_an_inf_reaches_exactly_the_outputs_whose_window_holds_it(case):
    # The vector code multiplies values outside a window's last lanes by nothing: an inf next
    # to a window must not turn its output into nan, and one inside must make it inf.
    rng = np.random.default_rng(9)
    x, kernel = make_inputs(case, rng)
    x, kernel = np.abs(x) + 0.5, np.abs(kernel) + 0.5
    flat = x.reshape(-1)
    # About 1 value in 80: most windows hold one somewhere, some hold none.
    flat[rng.choice(flat.size, size=flat.size // 80, replace=False)] = np.inf
    out = correlate(x, kernel, stride=case.stride, padding=case.padding, method=JIT)
    expected = reference(x, kernel, case.stride, case.padding)
    assert np.isposinf(expected).any() and np.isfinite(expected).any()
    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-5)


def test_row_dots_with_depth_and_a_stride_or_when_the_grids_would_mostly_crop():
    from convbench.methods.jit import uses_rows

    assert uses_rows(3, (2, 2), 5, 60) and uses_rows(2, (1, 3), 5, 60)
    assert not uses_rows(1, (2, 2), 5, 60) and not uses_rows(5, (1, 1), 5, 60)
    # (kw - 1) // sw columns cropped per row: at least Wo of them takes the row dots
    assert uses_rows(1, (1, 1), 45, 4) and uses_rows(1, (1, 1), 11, 10)
    assert not uses_rows(1, (1, 1), 11, 11) and not uses_rows(1, (1, 2), 45, 23)


@needs_jit
def test_float32_is_computed_and_returned_in_float32():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 30, 4)).astype(np.float32)
    kernel = rng.standard_normal((5, 5, 4)).astype(np.float32)
    out = correlate(x, kernel, stride=2, padding=1, method=JIT)
    assert out.dtype == np.float32
    case = Case((40, 30), (5, 5), 4, (2, 2), (1, 1), "float32")
    ok, _, message = check(
        out, reference(x, kernel, (2, 2), (1, 1)), dtype="float32", tol=tolerance(case, x, kernel)
    )
    assert ok, message


@needs_jit
def test_compiled_code_is_cached_on_disk():
    from convbench.methods import jit

    for kernel in (jit._correlate, jit._correlate_plain, jit._rows):
        assert type(kernel._cache).__name__ != "NullCache"


@needs_jit
def test_registered_after_the_other_direct_methods_and_before_auto():
    names = available_methods()
    assert names.index(JIT) < names.index("auto")
    assert get_method(JIT).family == "direct"


# --- without numba ----------------------------------------------------------------------------

_WITHOUT_NUMBA = textwrap.dedent(
    """
    import sys
    sys.modules["numba"] = None  # `import numba` now raises ImportError, as when not installed
    import convbench
    from convbench.config import load_sweep_text
    from convbench.errors import ConfigError
    assert "jit-direct" not in convbench.available_methods()
    try:
        convbench.correlate([[1.0, 2.0]], [[1.0]], method="jit-direct")
    except ValueError as e:
        print("api:", e)
    try:
        load_sweep_text("input_size: 8\\nkernel_size: 3\\nmethods: [jit-direct]\\n", path="c.yaml")
    except ConfigError as e:
        print("config:", e)
    """
)


def test_without_numba_the_method_is_absent_and_naming_it_says_what_to_install():
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_NUMBA], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    api, config = done.stdout.strip().splitlines()
    assert api.startswith("api: method 'jit-direct' is not available here") and "[jit]" in api
    assert config.startswith("config: c.yaml") and "pip install 'convbench[jit]'" in config


@pytest.fixture
def missing_method(monkeypatch):
    """An optional method this install lacks, as the registry records it."""
    monkeypatch.setitem(PLAIN._missing, "fancy", "needs fancylib: pip install 'convbench[fancy]'")
    return "fancy"


def test_naming_a_missing_optional_method_in_a_config_is_one_line(missing_method):
    with pytest.raises(ConfigError, match=r"c\.yaml: .*'fancy' is not available here") as e:
        load_sweep_text("input_size: 8\nkernel_size: 3\nmethods: [fancy]\n", path="c.yaml")
    assert "pip install 'convbench[fancy]'" in str(e.value) and "\n" not in str(e.value)


def test_the_cli_exits_2_for_a_missing_optional_method(missing_method, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("input_size: 8\nkernel_size: 3\nmethods: [fancy]\n")
    result = CliRunner().invoke(app, ["run", str(cfg), "-o", str(tmp_path / "r.csv")])
    assert result.exit_code == 2, result.output
    assert "convbench[fancy]" in result.output and "Traceback" not in result.output
    verify = CliRunner().invoke(app, ["verify", "-m", "fancy"])
    assert verify.exit_code == 2 and "convbench[fancy]" in verify.output


def test_an_unknown_name_still_lists_the_known_methods():
    with pytest.raises(ValueError, match="unknown method 'nope'; known: loops, "):
        get_method("nope")

"""The verification API the runner uses, and the ``methods`` / ``verify`` commands."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from convbench import ConvbenchError, available_methods
from convbench.cases import Case, make_inputs
from convbench.cli import app
from convbench.methods import get_method, registry
from convbench.methods.registry import Method
from convbench.verify import check, random_cases, reference, resolve_methods, tolerance, verify_all

runner = CliRunner()


def _broken(x, kernel, stride, padding):
    """Forgets the last kernel column."""
    out = get_method("loops")(x, kernel, stride, padding)
    return out - get_method("loops")(x, kernel[:, -1:], stride, padding)[:, : out.shape[1]]


BROKEN = Method("broken", "user", "test", _broken, estimate_bytes=lambda case: 0)


# --- reference ---------------------------------------------------------------------------


def test_reference_matches_the_seed_example(seed_example):
    assert reference(*seed_example, stride=2).tolist() == [
        [91, 100, 88],
        [69, 91, 117],
        [44, 72, 74],
    ]


def test_reference_is_float64_for_float32_inputs():
    x = np.ones((5, 5, 2), np.float32)
    out = reference(x, np.ones((2, 2, 2), np.float32), stride=2, padding=1)
    assert out.dtype == np.float64
    assert out.shape == (3, 3) and out[1, 1] == 8.0 and out[0, 0] == 2.0


def test_reference_agrees_with_loops_on_random_cases():
    rng = np.random.default_rng(5)
    for case in random_cases(12, seed=5):
        x, kernel = make_inputs(case, rng)
        expected = get_method("loops")(x, kernel, case.stride, case.padding)
        got = reference(x, kernel, case.stride, case.padding)
        tol = tolerance(case, x, kernel)
        assert np.max(np.abs(got - expected), initial=0) <= tol, case.label()


# --- tolerance ---------------------------------------------------------------------------


def test_tolerance_is_zero_for_integers():
    case = Case((6, 6), (3, 3), dtype="int64")
    x, kernel = make_inputs(case, np.random.default_rng(0))
    assert tolerance(case, x, kernel) == 0.0


def test_tolerance_scales_with_eps_and_magnitude():
    case32 = Case((6, 6), (3, 3), dtype="float32")
    case64 = Case((6, 6), (3, 3), dtype="float64")
    x, kernel = np.ones((6, 6)), np.ones((3, 3))
    t32, t64 = tolerance(case32, x, kernel), tolerance(case64, x, kernel)
    assert t32 / t64 == pytest.approx(np.finfo(np.float32).eps / np.finfo(np.float64).eps)
    assert tolerance(case64, 10 * x, kernel) == pytest.approx(10 * t64)


def test_float32_fft_passes_and_a_missing_tap_fails():
    case = Case((96, 80), (5, 7), depth=4, stride=(2, 3), padding=(1, 1), dtype="float32")
    x, kernel = make_inputs(case, np.random.default_rng(1))
    expected = reference(x, kernel, case.stride, case.padding)
    tol = tolerance(case, x, kernel)
    for name in ("fft", "fft-polyphase", "scipy-auto"):
        out = get_method(name)(x, kernel, case.stride, case.padding)
        ok, err, message = check(out, expected, dtype="float32", tol=tol)
        assert ok, f"{name}: {message}"
        assert err > 0  # float32 round-off is real, and tolerated
    damaged = kernel.copy()
    damaged[2, 3, 1] = 0
    wrong = get_method("strided-einsum")(x, damaged, case.stride, case.padding)
    assert not check(wrong, expected, dtype="float32", tol=tol)[0]


# --- check -------------------------------------------------------------------------------


def test_check_exact_integers():
    expected = np.array([[1, 2], [3, 4]])
    assert check(expected.copy(), expected, dtype="int64", tol=0) == (True, 0.0, "")
    ok, err, message = check(expected + np.array([[0, 0], [1, 0]]), expected, dtype="int64", tol=0)
    assert not ok and err == 1.0 and "at (1, 0)" in message


def test_check_rejects_wrong_shape():
    ok, err, message = check(np.zeros((2, 3)), np.zeros((3, 2)), dtype="float64", tol=1)
    assert not ok and np.isnan(err) and "shape (2, 3), expected (3, 2)" in message


def test_check_rejects_wrong_dtype():
    ok, _, message = check(np.zeros((2, 2)), np.zeros((2, 2)), dtype="float32", tol=1)
    assert not ok and "dtype float64, expected float32" in message


def test_check_rejects_non_arrays_and_non_finite_values():
    assert "not a numpy array" in check([[0.0]], np.zeros((1, 1)), dtype="float64", tol=1)[2]
    bad = np.array([[np.nan]])
    assert "non-finite" in check(bad, np.zeros((1, 1)), dtype="float64", tol=1)[2]


def test_check_float_within_and_beyond_tolerance():
    expected = np.zeros((3, 3))
    assert check(expected + 1e-9, expected, dtype="float64", tol=1e-8)[0]
    ok, err, _ = check(expected + 1e-7, expected, dtype="float64", tol=1e-8)
    assert not ok and err == pytest.approx(1e-7)


# --- random cases and verify_all ----------------------------------------------------------


def test_random_cases_are_deterministic_feasible_and_varied():
    cases = list(random_cases(60, seed=3))
    assert cases == list(random_cases(60, seed=3))
    assert all(c.feasible for c in cases)
    assert {c.dtype for c in cases} == {"int64", "float32", "float64"}
    assert any(c.depth == 0 for c in cases) and any(c.depth > 1 for c in cases)
    assert any(c.kernel_size[0] % 2 == 0 for c in cases)
    assert any(c.padding != (0, 0) for c in cases)
    assert any((c.padded_size[0] - c.kernel_size[0]) % c.stride[0] for c in cases)


def test_verify_all_finds_a_broken_method_and_passes_good_ones():
    failures = verify_all([BROKEN, "shift-add", "fft"], n_cases=6, seed=2)
    assert failures and {f.method for f in failures} == {"broken"}
    assert "broken on " in str(failures[0])


def test_verify_all_reports_a_crash():
    def crash(x, kernel, stride, padding):
        raise RuntimeError("boom")

    failures = verify_all([Method("crash", "user", "t", crash, lambda c: 0)], n_cases=2, seed=0)
    assert len(failures) == 2 and "raised RuntimeError: boom" in failures[0].message


def test_resolve_methods_rejects_unknown_names():
    assert [m.name for m in resolve_methods(["fft", "loops"])] == ["fft", "loops"]
    assert [m.name for m in resolve_methods(None)] == available_methods()
    with pytest.raises(ConvbenchError, match="unknown method 'nope'"):
        resolve_methods(["fft", "nope"])


# --- CLI ---------------------------------------------------------------------------------


def test_methods_command_lists_every_method():
    result = runner.invoke(app, ["methods"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["name", "family", "origin", "supports"]
    listed = [line.split()[0] for line in lines[2:]]
    assert listed == available_methods()
    assert any(line.split()[:2] == ["toeplitz", "gemm"] for line in lines)


def test_verify_command_passes_on_good_methods():
    result = runner.invoke(app, ["verify", "--cases", "5", "--seed", "1", "-m", "loops,fft"])
    assert result.exit_code == 0, result.output
    assert "2 methods x 5 cases (seed 1): all agree" in result.output


def test_verify_command_exits_1_and_names_the_broken_method(monkeypatch):
    monkeypatch.setitem(registry.PLAIN._methods, "broken", BROKEN)
    result = runner.invoke(app, ["verify", "--cases", "4", "--methods", "broken", "-m", "fft"])
    assert result.exit_code == 1, result.output
    assert "FAIL broken on " in result.output
    assert "FAIL fft" not in result.output


def test_verify_command_rejects_an_unknown_method_with_exit_2():
    result = runner.invoke(app, ["verify", "-m", "nope"])
    assert result.exit_code == 2
    assert "convbench: error: unknown method 'nope'" in result.output
    assert "Traceback" not in result.output

"""The acceptance lines of `make bench-auto` (benchmarks/bench_auto.py), on made-up rows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_auto", ROOT / "benchmarks" / "bench_auto.py")
bench_auto = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_auto)


def _rows(times: dict[tuple[int, int], dict[str, float]], dtype: str = "float64") -> pd.DataFrame:
    """Results rows: ``{(input size, depth): {method: seconds}}``, stride 1 in 2D, 2 with depth."""
    rows = []
    for (n, depth), methods in times.items():
        for method, t in methods.items():
            rows.append(
                {
                    "method": method,
                    "family": "direct" if method in ("shift-add", "mine") else "fft",
                    "status": "ok" if t else "error",
                    "input_h": n,
                    "input_w": n,
                    "kernel_h": 3,
                    "kernel_w": 3,
                    "depth": depth,
                    "stride_h": 2 if depth else 1,
                    "stride_w": 2 if depth else 1,
                    "pad_h": 0,
                    "pad_w": 0,
                    "dtype": dtype,
                    "allocator": "default",
                    "cpu_median_s": t,
                    "time_median_s": 2 * t if t else None,
                    "gflops": 1.0 / t if t else None,
                }
            )
    return pd.DataFrame(rows)


def test_auto_against_the_best_and_the_anchors():
    rows = _rows(
        {
            (16, 0): {"auto": 1.0, "mine": 1.0, "shift-add": 2.0, "scipy-auto": 3.0},
            (32, 0): {"auto": 2.0, "mine": 1.0, "shift-add": 1.5, "scipy-auto": 6.0},
            (64, 3): {"auto": 1.0, "mine": 0.9, "shift-add": 4.0, "scipy-auto": 0.0},
        }
    )
    lines = bench_auto.report(rows, peak=None)
    assert lines[0] == "== float64"
    # auto / best: 1.0, 2.0, 1/0.9 -> median 1.11, worst 2.00
    assert "auto / per-cell best of every method: median 1.11x, worst 2.00x (3 cells)" in lines
    assert "  auto within 1.10x of the best in 1/3 cells" in lines
    # best anchor (shift-add, scipy-auto; the error row does not count) / auto: 2.0, 0.75, 4.0
    assert "best anchor / auto (speed-up): median 2.00x, worst 0.75x (3 cells)" in lines
    assert (
        "  auto slower than the best anchor in 1/3 cells, 1 beyond the noise between processes"
        in lines
    )
    assert "    32x32 * 3x3 s1: x0.75 vs shift-add" in lines
    assert (
        "scipy-auto / auto, 2D stride-1 cells (speed-up): median 3.00x, worst 3.00x (2 cells)"
        in (lines)
    )
    assert "torch: not measured (not installed?)" in lines


def test_each_dtype_is_judged_on_its_own_cells():
    rows = pd.concat(
        [
            _rows({(16, 0): {"auto": 1.0, "shift-add": 2.0}}, "float64"),
            _rows({(16, 0): {"auto": 4.0, "shift-add": 2.0}}, "int64"),
        ]
    )
    lines = bench_auto.report(rows, peak=10.0)
    f64, i64 = lines.index("== float64"), lines.index("== int64")
    assert "best anchor / auto (speed-up): median 2.00x, worst 2.00x (1 cells)" in lines[f64:i64]
    assert "best anchor / auto (speed-up): median 0.50x, worst 0.50x (1 cells)" in lines[i64:]
    # GFLOP/s of the direct family over both dtypes: 1/1 and 1/2 per second... max 1.0 of 10.
    assert "best direct family GFLOP/s: median 0.5, max 0.5 (5% of the GEMM peak)" in lines


def test_a_later_file_replaces_the_rows_it_has(tmp_path, monkeypatch):
    first = _rows({(16, 0): {"auto": 4.0, "shift-add": 2.0}})
    again = _rows({(16, 0): {"auto": 1.0}})
    monkeypatch.setattr(bench_auto, "read_rows", lambda p: {"a": first, "b": again}[p.name])
    rows = bench_auto.latest_rows([tmp_path / "a", tmp_path / "b"])
    got = sorted(zip(rows["method"], rows["cpu_median_s"], strict=True))
    assert got == [("auto", 1.0), ("shift-add", 2.0)]


def test_the_pick_of_auto_is_judged_apart_from_the_noise_of_its_own_row():
    rows = _rows(
        {
            (16, 0): {"auto": 1.2, "mine": 1.0, "shift-add": 2.0},
            (32, 0): {"auto": 3.0, "mine": 2.0, "shift-add": 1.5},
        }
    )
    # auto runs "mine" in both cells: the best at 16, x1.33 behind shift-add at 32.
    lines = bench_auto.report(rows, peak=None, pick=lambda cell, keys: "mine")
    assert "the method auto runs / per-cell best: median 1.17x, worst 1.33x (2 cells)" in lines
    assert any(
        line.startswith(
            "  auto's row / its pick's row (dispatch + noise between two rows): median 1.35x"
        )
        for line in lines
    )


def test_a_slower_cell_within_the_noise_between_processes_is_a_tie():
    rows = _rows(
        {(16, 0): {"auto": 1.1, "shift-add": 1.0}, (32, 0): {"auto": 2.0, "shift-add": 1.0}}
    )
    rows["process_spread"] = [1.2, 1.05, 1.2, 1.05]  # x1.10 at 16 is within; x2 at 32 is not
    lines = bench_auto.report(rows, peak=None)
    assert (
        "  auto slower than the best anchor in 2/2 cells, 1 beyond the noise between processes"
        in lines
    )
    assert "    16x16 * 3x3 s1: x0.91 vs shift-add (tie)" in lines
    assert "    32x32 * 3x3 s1: x0.50 vs shift-add" in lines

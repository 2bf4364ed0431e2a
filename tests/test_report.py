"""`convbench report`: the claims' verdicts and the tables, on synthetic CSVs with known answers."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from fixtures.newformat import write_allocators
from fixtures.synthetic import (
    fft_cost,
    shift_add_cost,
    strided_view_cost,
    view_bytes,
    write_results,
)
from typer.testing import CliRunner

from convbench import claims, plot, report
from convbench.claims import human_bytes
from convbench.cli import app
from convbench.errors import ResultsError
from convbench.results import read_rows

STUDY = {"fft": fft_cost, "shift-add": shift_add_cost, "strided-view": strided_view_cost}


def fixed(cost):
    return lambda case: cost


def by_kernel(small, large, cut=5):
    return lambda case: small if case.kernel_size[0] < cut else large


def rows(tmp_path, model, inputs=(8, 16, 32, 64), kernels=(1, 3, 5, 9, 17, 33), **kw):
    name = f"r{len(list(tmp_path.iterdir()))}.csv"
    return read_rows(write_results(tmp_path / name, model, inputs, kernels, **kw))


def test_claim_1_reproduced_when_fft_wins(tmp_path):
    df = rows(tmp_path, {"fft": fixed(1e-4), "shift-add": fixed(2e-4), "strided-view": fixed(3e-4)})
    c = claims.claim_1(df)
    assert c.verdict == "reproduced"
    cells = len(df) // 3
    assert f"{cells} of {cells} cells (100%)" in c.evidence


def test_claim_1_not_reproduced_when_fft_loses(tmp_path):
    df = rows(tmp_path, {"fft": fixed(5e-4), "shift-add": fixed(2e-4), "strided-view": fixed(3e-4)})
    c = claims.claim_1(df)
    assert c.verdict == "not reproduced"
    assert "in 0 of" in c.evidence


def test_claim_1_partly_and_other_facets_do_not_count(tmp_path):
    # fft wins only for kernels >= 9: 3 of 6 kernel sizes (fewer cells: large kernels are rarer)
    df = rows(tmp_path, {"fft": by_kernel(5e-4, 1e-4, cut=9), "shift-add": fixed(2e-4)})
    other = rows(tmp_path, {"fft": fixed(1e-5), "shift-add": fixed(2e-4)}, depth=5, stride=2)
    share, wins, cells = claims.share_won(claims.study_times(df, 0, 1), "fft")
    t = claims.study_times(df, 0, 1)
    assert wins == int((t["f"] >= 9).sum()) and cells == len(t)
    expected = claims.verdict_from_share(share)
    assert claims.claim_1(pd.concat([df, other])).verdict == expected == "partly"


def test_claim_2_small_kernels(tmp_path):
    model = {"fft": fixed(1e-4), "shift-add": by_kernel(5e-5, 5e-4), "strided-view": fixed(3e-4)}
    assert claims.claim_2(rows(tmp_path, model)).verdict == "reproduced"
    model["shift-add"] = fixed(5e-4)
    assert claims.claim_2(rows(tmp_path, model)).verdict == "not reproduced"


def test_claim_3_and_no_data(tmp_path):
    near = {
        "fft": fixed(1e-4),
        "strided-view": lambda c: 1e-5 if c.kernel_size[0] >= 0.75 * c.input_size[0] else 1e-3,
    }
    kernels = (1, 3, 8, 16, 32)
    assert claims.claim_3(rows(tmp_path, near, kernels=kernels)).verdict == "reproduced"
    empty = rows(tmp_path, STUDY, depth=10, stride=5)
    assert claims.claim_3(empty).verdict == "no data"
    assert claims.claim_6(rows(tmp_path, STUDY)).verdict == "no data"


def test_claim_4_counts_its_three_parts(tmp_path):
    sv_wins_ends = {
        "fft": fixed(1e-4),
        "shift-add": fixed(1e-3),
        "strided-view": fixed(1e-5),
    }
    kw = {"kernels": (1, 3, 8, 16, 32), "depth": 5, "stride": 2}
    assert claims.claim_4(rows(tmp_path, sv_wins_ends, **kw)).verdict == "reproduced"
    shift_add_wins = {**sv_wins_ends, "shift-add": fixed(1e-6)}
    assert claims.claim_4(rows(tmp_path, shift_add_wins, **kw)).verdict == "partly"
    fft_wins = {**sv_wins_ends, "strided-view": fixed(1e-3)}
    assert claims.claim_4(rows(tmp_path, fft_wins, **kw)).verdict == "partly"
    nothing = {**fft_wins, "shift-add": fixed(1e-6)}
    assert claims.claim_4(rows(tmp_path, nothing, **kw)).verdict == "not reproduced"


MEM = {"inputs": (100, 256, 400), "kernels": (3, 33, 63), "depth": 5, "stride": 2}


def spike(factor):
    """The view's own bytes, times ``factor`` above n = 350."""
    return lambda m, c: view_bytes(c) * (factor if c.input_size[0] > claims.MEMORY_INPUT else 1)


@pytest.mark.parametrize(
    ("factor", "verdict"), [(20, "reproduced"), (3, "partly"), (1, "not reproduced")]
)
def test_claim_5_judges_the_threshold_per_view_element(tmp_path, factor, verdict):
    c = claims.claim_5(rows(tmp_path, STUDY, peak=spike(factor), **MEM))
    assert c.verdict == verdict
    top, near = claims_case(400, 63), claims_case(256, 63)
    assert "(n=400, f=63); at n=256, f=63" in c.evidence
    assert f"{factor:.1f}× per element" in c.evidence
    grows = view_bytes(top) / view_bytes(near)
    assert f"{factor * grows:.1f}× the bytes for {grows:.1f}× the view's elements" in c.evidence


def test_claim_5_not_reproduced_when_the_same_peak_is_already_below_350(tmp_path):
    # The study's situation: the view's bytes grow with its size only, and a kernel of 63 at
    # n = 256 already costs what the kernel of 33 costs at n = 400.
    c = claims.claim_5(rows(tmp_path, STUDY, peak=spike(1), **MEM))
    assert c.verdict == "not reproduced"
    largest = human_bytes(view_bytes(claims_case(256, 63)))
    assert f"largest peak at n ≤ 350: {largest} (n=256, f=63)" in c.evidence
    # a far larger fft-relative peak, as the old rule measured, changes nothing
    low_fft = claims.claim_5(rows(tmp_path, STUDY, peak=lambda m, c: (
        view_bytes(c) if m == "strided-view" else 1000), **MEM))  # fmt: skip
    assert low_fft.verdict == "not reproduced"


def test_claim_5_reads_small_and_old_zero_peaks_honestly(tmp_path):
    # Below the resolution a figure counts as the resolution; an old zero does not count at all.
    res = plot.MEMORY_RESOLUTION_BYTES

    def peak(m, c):
        f = c.kernel_size[0]
        if c.input_size[0] <= claims.MEMORY_INPUT:
            return 0 if f == 33 else 1
        return {3: 50, 33: 200, 63: 100}[f] * res

    c = claims.claim_5(rows(tmp_path, STUDY, peak=peak, **MEM))
    assert "(n=400, f=63); at n=256, f=63: 1 B (counted as 64.0 KiB)" in c.evidence
    assert "100.0× the bytes" in c.evidence
    ratio = 100 / (view_bytes(claims_case(400, 63)) / view_bytes(claims_case(256, 63)))
    assert f"{ratio:.1f}× per element" in c.evidence


def test_claim_5_no_data(tmp_path):
    below = claims.claim_5(rows(tmp_path, STUDY, peak=spike(20), inputs=(100, 256),
                                kernels=(3,), depth=5, stride=2))  # fmt: skip
    assert below.verdict == "no data" and "n > 350" in below.evidence
    # a kernel only above 350 has nothing comparable below it
    model = {"strided-view": lambda c: 1e-3 if c.input_size[0] > 350 or c.kernel_size[0] < 9
             else "skipped"}  # fmt: skip
    apart = claims.claim_5(rows(tmp_path, model, peak=spike(20), inputs=(100, 400),
                                kernels=(3, 33), depth=5, stride=2))  # fmt: skip
    assert apart.verdict == "reproduced"  # f = 3 is on both sides
    crossed = {"strided-view": lambda c: 1e-3 if (c.kernel_size[0] == 33) == (c.input_size[0] > 350)
               else "skipped"}  # fmt: skip
    none = claims.claim_5(rows(tmp_path, crossed, peak=spike(20), inputs=(40, 400),
                               kernels=(3, 33), depth=5, stride=2))  # fmt: skip
    assert none.verdict == "no data" and "both sides of n = 350" in none.evidence


def test_claims_use_the_default_allocator_rows_only(tmp_path):
    default = {"fft": fixed(1e-4), "shift-add": fixed(2e-4), "strided-view": fixed(3e-4)}
    steady = {"fft": fixed(5e-4), "shift-add": fixed(1e-4), "strided-view": fixed(3e-4)}
    csv = write_allocators(tmp_path / "two.csv", {"default": default, "steady": steady},
                           (8, 16, 32), (1, 3, 9))  # fmt: skip
    df, _ = plot.load(csv)
    assert claims.claim_1(df).verdict == "reproduced"
    cells = len(df) // 6
    assert f"{cells} of {cells} cells" in claims.claim_1(df).evidence
    steady_only = df[plot.allocators(df) == "steady"]
    assert claims.claim_1(steady_only).verdict == "not reproduced"
    assert len(claims.one_allocator(df)) == len(df) // 2


def claims_case(n, f):
    from convbench.cases import Case

    return Case((n, n), (f, f), depth=5, stride=(2, 2))


def test_claim_6_margin(tmp_path):
    kw = {"inputs": (50, 100, 200, 400), "kernels": (5, 15), "depth": 10, "stride": 5}
    model = {"fft": fixed(2e-4), "strided-view": lambda c: 1e-4 if c.input_size[0] >= 150 else 1e-3}
    c = claims.claim_6(rows(tmp_path, model, **kw))
    assert c.verdict == "reproduced"
    advantage = float(re.search(r"= \+(\d+)%", c.evidence).group(1))
    assert advantage == pytest.approx(100, abs=5)  # fft takes twice as long (±2% noise)
    model["strided-view"] = lambda c: 1.5e-4 if c.input_size[0] >= 150 else 1e-3
    assert claims.claim_6(rows(tmp_path, model, **kw)).verdict == "partly"


def test_verdict_thresholds():
    assert claims.verdict_from_share(2 / 3) == "reproduced"
    assert claims.verdict_from_share(0.5) == "partly"
    assert claims.verdict_from_share(0.2) == "not reproduced"
    assert claims.verdict_from_share(math.nan) == "no data"


def test_fastest_table_matches_the_grid(tmp_path):
    df = rows(tmp_path, STUDY)
    (grid,) = plot.facet_grids(df, "time")
    lines = report.fastest_table(grid)
    codes = plot.method_codes(grid.methods)
    body = [line for line in lines if line.startswith("| ") and not line.startswith("| f")]
    assert len(body) == len(grid.kernels)
    top = body[0].strip("| ").split(" | ")  # largest kernel first
    assert top[0] == grid.kernel_labels[-1]
    for x, cell in enumerate(top[1:]):
        i = grid.fastest[-1, x]
        assert cell.rstrip("=") == ("·" if i < 0 else codes[grid.methods[i]])


def test_slowdowns_are_against_the_per_cell_best(tmp_path):
    model = {"a": fixed(1e-4), "b": by_kernel(2e-4, 0.5e-4)}
    df = rows(tmp_path, model)
    (grid,) = plot.facet_grids(df, "time")
    ratio = report.slowdowns(grid)
    small = np.array([f < 5 for f, _ in grid.kernels])
    measured = np.isfinite(ratio["a"])
    np.testing.assert_allclose(ratio["b"][small][measured[small]], 2.0, rtol=0.05)
    np.testing.assert_allclose(ratio["a"][~small][measured[~small]], 2.0, rtol=0.05)
    table = "\n".join(report.slowdown_table(grid))
    assert "| a |" in table and "| b |" in table
    assert "2.0" in table


def test_crossovers_name_where_the_winner_changes(tmp_path):
    model = {"a": lambda c: 1e-4 if c.input_size[0] < 32 else 1e-3, "b": fixed(5e-4)}
    (grid,) = plot.facet_grids(rows(tmp_path, model), "time")
    text = "\n".join(report.crossovers(grid))
    assert "- f = 1: b overtakes a at n = 32" in text


def test_memory_budget(tmp_path):
    df = rows(tmp_path, STUDY, depth=5, stride=2,
              peak=lambda m, c: view_bytes(c) if m == "strided-view" else 100)  # fmt: skip
    (grid,) = plot.facet_grids(df, "memory")
    budget = 200_000
    over = int((grid.values["strided-view"] > budget).sum())
    assert over > 0
    table = "\n".join(report.memory_table(grid, budget))
    assert f"| {over} |" in table
    assert report.parse_bytes("1G") == 1 << 30 and report.parse_bytes("512MiB") == 512 << 20
    with pytest.raises(ResultsError, match="--memory-budget"):
        report.parse_bytes("lots")


def test_could_not_see_names_other_winners(tmp_path):
    df = rows(tmp_path, {**STUDY, "im2col-gemm": fixed(1e-9)})
    path = tmp_path / "x.csv"
    lines = "\n".join(report.could_not_see_section([(path, df, {})]))
    assert "| im2col-gemm |" in lines


def test_cli_writes_the_report_with_figures_and_claims(tmp_path):
    csv = write_results(tmp_path / "study-2d.csv", STUDY, (8, 16, 32), (1, 3, 9))
    assert CliRunner().invoke(app, ["plot", str(csv)]).exit_code == 0
    out = tmp_path / "REPORT.md"
    result = CliRunner().invoke(app, ["report", str(csv), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)
    text = out.read_text()
    figure = "study-2d/time-d0-s1-p0-float64"
    assert f"![fastest method, 2D, stride 1, padding 0, float64]({figure}-fastest.png)" in text
    assert f"[time-d0-s1-p0-float64.png]({figure}.png)" in text
    assert text.count("| **") == 6  # six claims with a verdict
    assert "Synthetic CPU 3000" in text
    assert "tests/test_methods.py" in text


def test_distance_from_the_gemm_peak(tmp_path):
    meta = {"cpu_model": "Synthetic CPU 3000", "threads": 1, "gemm_peak_gflops": 10.0}
    csv = write_results(tmp_path / "d.csv", STUDY, (16, 32), (3, 9), depth=3, meta=meta)
    df = read_rows(csv)
    lines = report.peak_section(csv, df, meta)
    assert "**10.0 GFLOP/s**" in "\n".join(lines)
    row = next(line for line in lines if line.startswith("| shift-add |"))
    ok = df[(df["method"] == "shift-add") & (df["status"] == "ok")]
    median = ok["gflops"].median()
    on_target = ok.loc[ok["kernel_h"] <= 11, "gflops"].median()
    assert row == (
        f"| shift-add | fft | {len(ok)} | {median:.2f} | {10 * median:.0f} % | "
        f"{10 * ok['gflops'].max():.0f} % | {10 * on_target:.0f} % |"
    )
    assert report.peak_section(csv, df, {}) == []  # no peak in the sidecar: no section
    text = report.build_report([csv], tmp_path / "R.md")
    assert "distance from the GEMM peak" in text


def test_rows_without_timing_are_listed(tmp_path):
    model = {**STUDY, "loops": lambda c: "skipped" if c.input_size[0] > 16 else 1e-3}
    csv = write_results(tmp_path / "s.csv", model, (8, 16, 32), (1, 3))
    df = read_rows(csv)
    text = "\n".join(report.status_section([(csv, df, {})]))
    skipped = int((df["status"] == "skipped").sum())
    assert skipped == 2
    assert f"| `s.csv` | loops | skipped | {skipped} | synthetic skipped |" in text


def test_cli_report_bad_input_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path / "none.csv")])
    assert result.exit_code == 2
    assert "no such results file" in result.output


def test_report_of_both_allocators(tmp_path):
    default = {**STUDY, "fft": lambda c: 2 * fft_cost(c)}
    csv = write_allocators(tmp_path / "two.csv", {"default": default, "steady": STUDY},
                           (8, 16, 32), (1, 3, 9))  # fmt: skip
    assert CliRunner().invoke(app, ["plot", str(csv)]).exit_code == 0
    out = tmp_path / "REPORT.md"
    result = CliRunner().invoke(app, ["report", str(csv), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    for allocator in ("default", "steady"):
        assert f"### 2D, stride 1, padding 0, float64, {allocator} allocator\n" in text
        assert f"(two/time-d0-s1-p0-float64-{allocator}-fastest.png)" in text
    assert "### What tuning glibc's malloc would buy (`two.csv`)" in text
    assert "(two/allocator-gain-d0-s1-p0-float64.png)" in text
    (gain,) = plot.allocator_gains(plot.load(csv)[0])
    for m, stats in plot.gain_stats(gain).items():
        assert f"| {m} | {stats.cells} | {stats.median:.2f}× | {stats.max:.2f}× |" in text
    fft = plot.gain_stats(gain)["fft"]
    assert fft.median == pytest.approx(2, rel=0.05)
    # the claims see the default rows only: fft pays double there, as the model says
    assert "only the `default` ones count" in text


def test_no_gain_section_for_one_allocator(tmp_path):
    df = rows(tmp_path, STUDY)
    assert report.allocator_gain_section(tmp_path / "x.csv", df, tmp_path) == []


def test_memory_table_ranks_with_the_resolution(tmp_path):
    mib = 1 << 20

    def peak(m, c):
        if m == "fft":
            return 0 if c.kernel_size[0] == 9 else 2 * mib  # an old CSV's zero at f = 9
        if m == "shift-add":
            return 2 * mib + 30_000 if c.kernel_size[0] == 1 else 3 * mib
        return 50 * mib

    df = rows(tmp_path, STUDY, inputs=(16, 32), kernels=(1, 3, 9), peak=peak)
    (grid,) = plot.facet_grids(df, "memory")
    table = report.memory_table(grid, 10 * mib)
    text = "\n".join(table)
    # f = 1: fft and shift-add within 64 KiB, tied; f = 3: fft alone; f = 9: undecided
    assert "| fft | 2.0 MiB | n=16, f=1 | 2 | 2 | 0 | – |" in text
    assert "| shift-add | 3.0 MiB | n=16, f=3 | 0 | 2 | 0 | – |" in text
    assert "| strided-view | 50.0 MiB | n=16, f=1 | 0 | 0 | 6 | n=16, f=1 |" in text
    assert "2 `ok` rows have no peak" in text and "in the 2 cells" in text
    fastest = "\n".join(report.fastest_table(grid))
    assert "| 9 | ? | ? |" in fastest

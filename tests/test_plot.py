"""`convbench plot`: what the figures draw (arrays, masks, scales, labels) and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures.newformat import read_text, write_allocators
from fixtures.synthetic import (
    fft_cost,
    shift_add_cost,
    strided_view_cost,
    view_bytes,
    write_results,
)
from matplotlib.collections import PathCollection
from matplotlib.colors import LogNorm, to_hex
from typer.testing import CliRunner

from convbench import plot
from convbench.cli import app
from convbench.errors import ResultsError
from convbench.results import read_rows

MODEL = {"fft": fft_cost, "shift-add": shift_add_cost, "strided-view": strided_view_cost}
INPUTS = [8, 16, 32, 64]
KERNELS = [1, 3, 9, 17, 33]


@pytest.fixture
def study_csv(tmp_path):
    return write_results(tmp_path / "study.csv", MODEL, INPUTS, KERNELS)


@pytest.fixture
def grid(study_csv):
    (only,) = plot.facet_grids(read_rows(study_csv), "time")
    return only


def expected_winners(csv, best="idxmin", column="time_median_s"):
    df = read_rows(csv)
    ok = df[df["status"] == "ok"]
    return getattr(ok.pivot_table(index=["kernel_h", "input_h"], columns="method", values=column),
                   best)(axis=1)  # fmt: skip


def test_fastest_is_the_argmin_of_the_csv(study_csv, grid):
    winners = expected_winners(study_csv)
    assert len(winners) > 5
    for (f, n), method in winners.items():
        y, x = grid.kernels.index((f, f)), grid.inputs.index((n, n))
        assert grid.methods[grid.fastest[y, x]] == method
    # the fixture's pattern shows up: more than one method wins somewhere
    assert len(set(winners)) >= 2


def test_infeasible_cells_are_blank(grid):
    y, x = grid.kernels.index((33, 33)), grid.inputs.index((8, 8))
    assert not grid.measured[y, x]
    assert grid.fastest[y, x] == -1
    assert all(np.isnan(v[y, x]) for v in grid.values.values())
    assert grid.measured[grid.kernels.index((3, 3)), grid.inputs.index((8, 8))]


def test_values_are_the_csv_medians_in_swept_order(study_csv, grid):
    df = read_rows(study_csv)
    row = df[(df.method == "fft") & (df.input_h == 32) & (df.kernel_h == 9)].iloc[0]
    y, x = grid.kernels.index((9, 9)), grid.inputs.index((32, 32))
    assert grid.values["fft"][y, x] == pytest.approx(row.time_median_s)
    assert grid.input_labels == [str(n) for n in INPUTS]
    assert grid.kernel_labels == [str(f) for f in KERNELS]


def test_method_panels_share_one_log_norm_and_carry_swept_ticks(grid):
    fig = plot.draw_facet(grid, {"cpu_model": "Test CPU", "threads": 1})
    panels = [ax for ax in fig.axes if ax.get_title() in grid.methods]
    assert len(panels) == len(grid.methods)
    norms = [ax.images[0].norm for ax in panels]
    assert all(isinstance(n, LogNorm) for n in norms)
    assert {(n.vmin, n.vmax) for n in norms} == {(grid.vmin, grid.vmax)}
    finite = np.concatenate([v[np.isfinite(v)] for v in grid.values.values()])
    assert (grid.vmin, grid.vmax) == (finite.min(), finite.max())
    ax = panels[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(n) for n in INPUTS]
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(f) for f in KERNELS]
    assert "Test CPU" in fig._suptitle.get_text()
    assert "stride 1" in fig._suptitle.get_text()
    # infeasible cells are masked in the drawn image, not zero-filled
    drawn = panels[0].images[0].get_array()
    assert drawn.mask[grid.kernels.index((33, 33)), grid.inputs.index((8, 8))]
    colorbar_labels = [a.get_ylabel() for a in fig.axes]
    assert "seconds per call" in colorbar_labels


def test_fastest_panel_draws_the_fastest_array(grid):
    fig = plot.draw_facet(grid)
    (ax,) = [a for a in fig.axes if a.get_title() == "fastest method"]
    drawn = ax.images[0].get_array()
    assert np.array_equal(drawn.filled(-1), grid.fastest)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    winners = {grid.methods[i] for i in grid.fastest.ravel() if i >= 0}
    codes = plot.method_codes(grid.methods)
    assert sorted(legend) == sorted(f"{codes[m]}: {m} (fastest)" for m in winners)
    # every cell with a winner carries the winner's code, so colours need not be told apart
    written = {(t.get_position(), t.get_text()) for t in ax.texts}
    assert written == {
        ((x, y), codes[grid.methods[grid.fastest[y, x]]])
        for y, x in zip(*np.nonzero(grid.fastest >= 0), strict=True)
    }
    # the categorical colours are the methods' stable colours, in grid.methods order
    cmap = ax.images[0].cmap
    colours = plot.method_colors(grid.methods)
    assert [to_hex(cmap(i)) for i in range(len(grid.methods))] == [
        colours[m].lower() for m in grid.methods
    ]


def test_fastest_figure_draws_the_same_map_alone(grid):
    fig = plot.draw_fastest(grid)
    (ax,) = fig.axes
    assert np.array_equal(ax.images[0].get_array().filled(-1), grid.fastest)
    winners = {grid.methods[i] for i in grid.fastest.ravel() if i >= 0}
    codes = plot.method_codes(grid.methods)
    assert sorted(t.get_text() for t in fig.legends[0].get_texts()) == sorted(
        f"{codes[m]}: {m} (fastest)" for m in winners
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == grid.input_labels


def test_non_ok_rows_are_masked_and_marked(tmp_path):
    model = {**MODEL, "shift-add": lambda c: "skipped" if c.kernel_size[0] == 9 else 1e-9}
    csv = write_results(tmp_path / "s.csv", model, INPUTS, KERNELS)
    (g,) = plot.facet_grids(read_rows(csv), "time")
    y = g.kernels.index((9, 9))
    feasible = [n >= 9 for n in INPUTS]
    assert list(g.status["shift-add"][y]) == ["skipped" if ok else "" for ok in feasible]
    assert np.isnan(g.values["shift-add"][y]).all()
    assert list(g.measured[y]) == feasible
    fig = plot.draw_facet(g)
    (ax,) = [a for a in fig.axes if a.get_title() == "shift-add"]
    (marks,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    expected = [(x, y) for x, ok in enumerate(feasible) if ok]
    assert sorted(map(tuple, marks.get_offsets())) == expected
    assert any("skipped" in t.get_text() for t in fig.legends[0].get_texts())


def test_per_scales_times_and_the_colourbar_label(study_csv, grid):
    (g10,) = plot.facet_grids(read_rows(study_csv), "time", per=10)
    np.testing.assert_allclose(g10.values["fft"], grid.values["fft"] * 10)
    assert plot.colorbar_label(g10) == "seconds per 10 calls"


def test_gflops_best_is_the_largest(study_csv):
    (g,) = plot.facet_grids(read_rows(study_csv), "gflops")
    winners = expected_winners(study_csv, "idxmax", "gflops")
    for (f, n), method in winners.items():
        assert g.methods[g.fastest[g.kernels.index((f, f)), g.inputs.index((n, n))]] == method


def test_gflops_colourbar_reads_as_a_share_of_the_gemm_peak(study_csv):
    (g,) = plot.facet_grids(read_rows(study_csv), "gflops")
    fig = plot.draw_facet(g, {"gemm_peak_gflops": 40.0})

    def labels(figure):
        return [a.get_ylabel() for ax in figure.axes for a in [ax, *ax.child_axes]]

    (share,) = [text for text in labels(fig) if "GEMM peak" in text]
    assert share == "% of the GEMM peak (40.0 GFLOP/s, 1 core, float64)"
    assert not any("GEMM peak" in text for text in labels(plot.draw_facet(g, {})))
    assert plot.gemm_peak({"gemm_peak_gflops": "x"}) is None
    assert plot.gemm_peak({"gemm_peak_gflops": 0}) is None


def test_memory_metric_and_subset(tmp_path):
    csv = write_results(
        tmp_path / "m.csv", MODEL, INPUTS, KERNELS, depth=5, stride=2,
        peak=lambda m, c: view_bytes(c) if m == "strided-view" else 1000,
    )  # fmt: skip
    (g,) = plot.facet_grids(read_rows(csv), "memory", methods=["fft", "strided-view"])
    assert g.methods == [m for m in plot.method_order() if m in {"fft", "strided-view"}]
    assert g.facet["depth"] == 5 and g.facet["stride_h"] == 2
    y, x = g.kernels.index((3, 3)), g.inputs.index((64, 64))
    assert g.values["strided-view"][y, x] == 31 * 31 * 9 * 5 * 8
    assert g.methods[g.fastest[y, x]] == "fft"


def test_margin_and_ties(tmp_path):
    model = {"a": lambda c: 1e-3, "b": lambda c: 1e-3 if c.kernel_size[0] == 1 else 3e-3}
    csv = write_results(tmp_path / "t.csv", model, [8, 16], [1, 3])
    (g,) = plot.facet_grids(read_rows(csv), "time")
    assert g.tie[0].all(), "same cost, overlapping samples: a tie"
    assert not g.tie[1].any()
    np.testing.assert_allclose(g.margin[1], 3.0, rtol=0.05)
    fig = plot.draw_margin(g)
    assert np.allclose(fig.axes[0].images[0].get_array(), (g.margin - 1) * 100)


def test_dispatchers_are_drawn_but_not_ranked(tmp_path):
    # `auto` only repeats the method it picks: the fastest map names the method itself.
    model = {"a": lambda c: 2e-3, "b": lambda c: 3e-3, "auto": lambda c: 1e-3}
    df = read_rows(write_results(tmp_path / "t.csv", model, [8, 16], [1, 3]))
    df.loc[df["method"] == "auto", "family"] = "auto"
    (g,) = plot.facet_grids(df, "time")
    assert "auto" in g.methods and g.contenders == ["a", "b"]
    assert {g.methods[i] for i in g.fastest.ravel()} == {"a"}
    assert {g.methods[i] for i in g.runner_up.ravel()} == {"b"}


def test_facets_split_by_depth_and_dtype(tmp_path):
    a = write_results(tmp_path / "a.csv", MODEL, [8, 16], [1, 3])
    b = write_results(tmp_path / "b.csv", MODEL, [8, 16], [1, 3], depth=5, dtype="float32")
    df = pd.concat([read_rows(a), read_rows(b)])
    grids = plot.facet_grids(df, "time")
    assert [(g.facet["depth"], g.facet["dtype"]) for g in grids] == [(0, "float64"), (5, "float32")]
    assert grids[0].slug == "d0-s1-p0-float64"


def test_non_square_inputs_are_labelled_h_by_w(tmp_path):
    csv = write_results(tmp_path / "r.csv", MODEL, [(8, 16), (16, 8)], [1, 3])
    (g,) = plot.facet_grids(read_rows(csv), "time")
    assert g.input_labels == ["8×16", "16×8"]


def test_colours_are_stable_and_distinct():
    names = plot.method_order(["zz-user", "aa-user"])
    colours = plot.method_colors(names)
    assert plot.method_colors(["aa-user"])["aa-user"] == colours["aa-user"]
    assert len(set(colours.values())) == min(len(names), len(plot.PALETTE))


def test_no_data_for_a_metric_is_an_error(study_csv):
    df = read_rows(study_csv).assign(peak_bytes=np.nan)
    with pytest.raises(ResultsError, match="no usable memory"):
        plot.facet_grids(df, "memory")
    with pytest.raises(ResultsError, match="--methods: not in the results: nope"):
        plot.facet_grids(df, "time", methods=["nope"])


def test_cli_writes_figures_and_prints_their_paths(study_csv, tmp_path):
    out = tmp_path / "figs"
    result = CliRunner().invoke(
        app, ["plot", str(study_csv), "-o", str(out), "--format", "svg", "--per", "10"]
    )
    assert result.exit_code == 0, result.output
    printed = result.output.split()
    assert printed == [
        str(out / "time-d0-s1-p0-float64.svg"),
        str(out / "time-d0-s1-p0-float64-fastest.svg"),
        str(out / "time-d0-s1-p0-float64-margin.svg"),
    ]
    assert all((out / p.split("/")[-1]).stat().st_size > 1000 for p in printed)
    assert "seconds per 10 calls" in (out / "time-d0-s1-p0-float64.svg").read_text()


def test_cli_default_folder_is_beside_the_csv(study_csv):
    result = CliRunner().invoke(app, ["plot", str(study_csv), "--methods", "fft,strided-view"])
    assert result.exit_code == 0, result.output
    assert (study_csv.with_suffix("") / "time-d0-s1-p0-float64.png").is_file()


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "no such results file"),
        ("hello,world\n1,2\n", [], "not a convbench results CSV"),
        ("study", ["--metric", "memory"], "no usable memory"),
        ("schema9", [], "schema [9] is unknown"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, study_csv, content, args, message):
    path = tmp_path / "bad.csv"
    if content == "study":  # timings but no memory column values
        path = write_results(tmp_path / "nomem.csv", MODEL, [8], [3], peak=lambda m, c: "")
    elif content == "schema9":
        text = study_csv.read_text().splitlines()
        path.write_text("\n".join([text[0], *("9" + line[1:] for line in text[1:])]) + "\n")
    elif content is not None:
        path.write_text(content)
    result = CliRunner().invoke(app, ["plot", str(path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_several_csvs_get_a_folder_each(tmp_path):
    a = write_results(tmp_path / "machine-a.csv", MODEL, [8, 16], [1, 3])
    b = write_results(tmp_path / "machine-b.csv", MODEL, [8, 16], [1, 3],
                      meta={"cpu_model": "Other CPU", "threads": 2})  # fmt: skip
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["plot", str(a), str(b), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.parent.name for p in map(Path, result.output.split())) == 3 * [
        "machine-a"
    ] + 3 * ["machine-b"]
    assert (out / "machine-b" / "time-d0-s1-p0-float64.png").is_file()
    df, meta = plot.load(b)
    (g,) = plot.facet_grids(df, "time")
    assert "Other CPU, 2 threads" in plot.draw_facet(g, meta)._suptitle.get_text()


# ------------------------------------------------------------------ allocators (new CSV format)


def slower(model, factor):
    return {m: (lambda c, cost=cost: factor * cost(c)) for m, cost in model.items()}


@pytest.fixture
def two_allocators(tmp_path):
    # Under the default allocator fft pays twice: the winners differ between the two allocators.
    default = {**MODEL, "fft": lambda c: 2 * fft_cost(c)}
    return write_allocators(tmp_path / "two.csv", {"default": default, "steady": MODEL},
                            INPUTS, KERNELS)  # fmt: skip


def test_allocator_is_read_from_new_csvs_and_defaults_for_old_ones(two_allocators, study_csv):
    df, _ = plot.load(two_allocators)
    assert sorted(set(plot.allocators(df))) == ["default", "steady"]
    old, _ = plot.load(study_csv)
    assert set(plot.allocators(old)) == {"default"}
    blank = pd.DataFrame({"allocator": ["", np.nan, " steady "]})
    assert list(plot.allocators(blank)) == ["default", "default", "steady"]


def test_each_allocator_is_its_own_facet(two_allocators):
    df, _ = plot.load(two_allocators)
    default, steady = plot.facet_grids(df, "time")
    assert (default.allocator, steady.allocator) == ("default", "steady")
    assert (default.slug, steady.slug) == ("d0-s1-p0-float64-default", "d0-s1-p0-float64-steady")
    assert steady.title.endswith("float64, steady allocator")
    for grid in (default, steady):
        rows = df[plot.allocators(df) == grid.allocator]
        ok = rows[rows["status"] == "ok"]
        table = ok.pivot_table(index=["kernel_h", "input_h"], columns="method",
                               values="time_median_s")  # fmt: skip
        for (f, n), method in table.idxmin(axis=1).items():
            y, x = grid.kernels.index((f, f)), grid.inputs.index((n, n))
            assert grid.methods[grid.fastest[y, x]] == method
            assert grid.values[method][y, x] == pytest.approx(table.loc[(f, n), method])
    # the allocators disagree somewhere, so a grouping that mixed them would be caught
    assert (default.fastest != steady.fastest).any()


def test_one_allocator_keeps_the_old_names(tmp_path):
    csv = write_allocators(tmp_path / "s.csv", {"steady": MODEL}, [8, 16], [1, 3])
    (g,) = plot.facet_grids(plot.load(csv)[0], "time")
    assert g.allocator == "steady"
    assert g.slug == "d0-s1-p0-float64" and "allocator" not in g.title
    assert plot.allocator_gains(plot.load(csv)[0]) == []


def test_allocator_gain_is_default_over_steady_median_time(tmp_path):
    default = {**slower(MODEL, 1.5), "shift-add": lambda c: "error" if c.kernel_size[0] == 3 else
               shift_add_cost(c)}  # fmt: skip
    steady = {**MODEL, "strided-view": lambda c: "skipped" if c.input_size[0] == 16 else
              strided_view_cost(c)}  # fmt: skip
    csv = write_allocators(tmp_path / "g.csv", {"default": default, "steady": steady},
                           [8, 16, 32], [1, 3])  # fmt: skip
    df, _ = plot.load(csv)
    (g,) = plot.allocator_gains(df)
    assert g.slug == "d0-s1-p0-float64" and g.facet["depth"] == 0
    alloc = plot.allocators(df)
    y, x = g.kernels.index((1, 1)), g.inputs.index((32, 32))
    cell = (df.input_h == 32) & (df.kernel_h == 1) & (df.method == "fft")
    expected = (df[cell & (alloc == "default")].time_median_s.iloc[0]
                / df[cell & (alloc == "steady")].time_median_s.iloc[0])  # fmt: skip
    assert g.ratio["fft"][y, x] == pytest.approx(expected)
    # blank where either allocator's row is not ok
    assert np.isnan(g.ratio["shift-add"][g.kernels.index((3, 3))]).all()
    assert np.isnan(g.ratio["strided-view"][:, g.inputs.index((16, 16))]).all()
    stats = plot.gain_stats(g)
    finite = g.ratio["fft"][np.isfinite(g.ratio["fft"])]
    assert stats["fft"] == (pytest.approx(np.median(finite)), pytest.approx(finite.max()), 6)
    assert stats["shift-add"].cells == 3 and stats["shift-add"].median == pytest.approx(1, abs=0.05)
    assert stats["strided-view"].cells == 4


def test_allocator_gain_figure_is_centred_on_one_and_annotated(two_allocators):
    (g,) = plot.allocator_gains(plot.load(two_allocators)[0])
    fig = plot.draw_allocator_gain(g, {"cpu_model": "Test CPU"})
    panels = [ax for ax in fig.axes if ax.get_title() in g.methods]
    assert [ax.get_title() for ax in panels] == g.methods
    norm = panels[0].images[0].norm
    assert isinstance(norm, LogNorm) and norm.vmin == pytest.approx(1 / norm.vmax)
    assert norm.vmax >= max(np.nanmax(r) for r in g.ratio.values())
    assert panels[0].images[0].cmap.name == "RdBu_r"
    (fft,) = [ax for ax in panels if ax.get_title() == "fft"]
    written = {t.get_position(): t.get_text() for t in fft.texts}
    ys, xs = np.nonzero(np.isfinite(g.ratio["fft"]))
    assert written == {(x, y): f"{g.ratio['fft'][y, x]:.2f}" for y, x in zip(ys, xs, strict=True)}
    assert np.ma.getmaskarray(fft.images[0].get_array())[~np.isfinite(g.ratio["fft"])].all()
    assert "default / steady" in fig._suptitle.get_text()


def test_cli_draws_each_allocator_and_the_gain(two_allocators, tmp_path):
    out = tmp_path / "figs"
    result = CliRunner().invoke(app, ["plot", str(two_allocators), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [Path(p).name for p in result.output.split()] == [
        "time-d0-s1-p0-float64-default.png",
        "time-d0-s1-p0-float64-default-fastest.png",
        "time-d0-s1-p0-float64-default-margin.png",
        "time-d0-s1-p0-float64-steady.png",
        "time-d0-s1-p0-float64-steady-fastest.png",
        "time-d0-s1-p0-float64-steady-margin.png",
        "allocator-gain-d0-s1-p0-float64.png",
    ]


# ------------------------------------------------------------------------ memory a user can trust


def memory_csv(tmp_path, peaks, tracemalloc=None, name="mem.csv"):
    """A one-cell-per-kernel CSV whose peaks are ``peaks[method]`` (tracemalloc likewise)."""
    model = {m: (lambda c: 1e-3) for m in peaks}
    csv = write_results(tmp_path / name, model, [64], [1, 3],
                        peak=lambda m, c: peaks[m])  # fmt: skip
    if tracemalloc:
        raw = read_text(csv)
        raw["tracemalloc_bytes"] = raw["method"].map(lambda m: str(tracemalloc.get(m, "")))
        raw.to_csv(csv, index=False)
    return csv


def test_memory_ties_within_the_resolution(tmp_path):
    mib = 1 << 20
    res = plot.MEMORY_RESOLUTION_BYTES
    assert res == 64 * 1024
    assert plot.memory_tie(mib, mib + res)
    assert not plot.memory_tie(mib, mib + res + 1)
    assert not plot.memory_tie(1000, res + 2000)
    assert plot.memory_tie(1000 * mib, 1005 * mib), "1% of the larger is wider"
    csv = memory_csv(tmp_path, {"a": 5 * mib, "b": 5 * mib + 40_000, "c": 50 * mib})
    (g,) = plot.facet_grids(plot.load(csv)[0], "memory")
    assert g.tie.all()
    ax = plot.draw_fastest(g).axes[0]
    assert {t.get_text() for t in ax.texts} == {plot.method_codes(g.methods)["a"] + "="}
    legend = [t.get_text() for t in plot.draw_fastest(g).legends[0].get_texts()]
    assert any(text == "tied with runner-up (within 64 KiB or 1%)" for text in legend)


def test_memory_margin_reads_small_peaks_as_the_resolution(tmp_path):
    csv = memory_csv(tmp_path, {"a": 4096, "b": 200_000})
    (g,) = plot.facet_grids(plot.load(csv)[0], "memory")
    assert not g.tie.any()
    np.testing.assert_allclose(g.margin, 200_000 / plot.MEMORY_RESOLUTION_BYTES)


def test_memory_is_the_larger_of_rss_and_tracemalloc(tmp_path):
    csv = memory_csv(tmp_path, {"a": 0, "b": 300_000}, tracemalloc={"a": 500_000, "b": 100})
    (g,) = plot.facet_grids(plot.load(csv)[0], "memory")
    np.testing.assert_array_equal(g.values["a"], 500_000)
    np.testing.assert_array_equal(g.values["b"], 300_000)
    assert {g.methods[i] for i in g.fastest.ravel()} == {"b"}


def test_an_old_zero_peak_is_drawn_at_the_floor_and_never_ranked(tmp_path):
    # An old CSV: RSS read 0 below its resolution and no tracemalloc figure.
    csv = memory_csv(tmp_path, {"a": 0, "b": 1 << 30})
    (g,) = plot.facet_grids(plot.load(csv)[0], "memory")
    assert g.unvalued["a"].all() and not g.unvalued["b"].any()
    assert np.isnan(g.values["a"]).all()
    assert g.undecided.all() and (g.fastest == -1).all() and (g.runner_up == -1).all()
    assert np.isnan(g.margin).all()
    fig = plot.draw_facet(g)
    (ax,) = [a for a in fig.axes if a.get_title() == "a"]
    drawn = ax.images[0].get_array()
    assert not np.ma.getmaskarray(drawn).any(), "an ok cell is never blank"
    np.testing.assert_array_equal(drawn, g.vmin)
    (marks,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(marks.get_offsets()) == g.unvalued["a"].sum()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert plot.floor_label(g) in legend
    assert "0 or empty in an old CSV" in plot.floor_label(g)
    assert any(text.startswith("undecided") for text in legend)
    (best,) = [a for a in fig.axes if a.get_title() == "least memory method"]
    assert {t.get_text() for t in best.texts} == {"?"}

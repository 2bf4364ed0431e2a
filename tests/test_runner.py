"""run_sweep and measure_case: statuses, workers, allocators, budgets, resume, interruption."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from convbench.cases import Case
from convbench.config import load_sweep_text
from convbench.errors import ConfigError, ResultsError
from convbench.journal import journal_path, pending
from convbench.measure.worker import ONE_SERVER_ENV, CheckRequest, TimeRequest, Workers
from convbench.results import COLUMNS, read_meta, read_rows, row_key
from convbench.runner import is_larger, measure_case, run_sweep, work_items

FAST = "timing: {min_sample_s: 0.001, repeats: 3, warmup: 0}\nmemory_pass: false\n"


def sweep_of(text: str, name: str = "t"):
    return load_sweep_text(textwrap.dedent(text) + FAST, name=name, path=f"{name}.yaml")


MIXED = """\
input_size: [8, 12]
kernel_size: 3
depth: [0, 2]
stride: [1, 2]
methods:
  - good: "cbtest_methods:good"
  - wrong: "cbtest_methods:off_by_one"
  - broken: "cbtest_methods:raises"
"""


def test_a_broken_and_a_wrong_method_become_rows_while_others_are_measured(tmp_path):
    out = tmp_path / "r.csv"
    summary = run_sweep(sweep_of(MIXED), out, progress=False)
    rows = read_rows(out)
    assert list(rows.columns) == list(COLUMNS)
    assert len(rows) == 8 * 3 == summary.measured
    by = {m: rows[rows.method == m] for m in ("good", "wrong", "broken")}
    assert set(by["good"].status) == {"ok"}
    assert set(by["wrong"].status) == {"wrong"}
    assert list(by["wrong"].max_abs_err) == pytest.approx([1.0] * 8)
    assert set(by["broken"].status) == {"error"}
    assert set(by["broken"].reason) == {"RuntimeError: deliberately broken"}
    good = by["good"].iloc[0]
    assert good.repeats == 3 and len(good.samples_s) == 3 and len(good.cpu_samples_s) == 3
    assert good.time_min_s <= good.time_median_s and good.gflops > 0 and good.loops >= 1
    assert good.first_call_s > 0  # the check call, timed apart from the samples
    assert by["wrong"].time_median_s.isna().all()  # a wrong method is never timed
    assert summary.counts == {"ok": 8, "wrong": 8, "error": 8}
    assert len(summary.problems) == 16 and not summary.interrupted
    meta = read_meta(out)
    assert meta["config_hash"] == sweep_of(MIXED).config_hash and meta["interrupted"] is False
    assert meta["threads"] == 1 and "threadpool_info" in meta and meta["cpu_model"]
    assert set(meta["allocator"]) == {"default"} and meta["processes"] == 3
    assert meta["gemm_peak_gflops"] > 0 and "1 BLAS thread" in meta["gemm_peak"]


def test_work_items_are_deterministic_case_major():
    s = sweep_of(MIXED)
    items = work_items(s)
    assert [(i.case, i.entry.name) for i in items] == [
        (c, m) for c in s.cases for m in ("good", "wrong", "broken")
    ]
    assert [i.key() for i in items] == [i.key() for i in work_items(sweep_of(MIXED))]


def test_is_larger_needs_the_same_facet_a_larger_input_and_more_work():
    small = Case((16, 16), (3, 3), 2, (2, 2))
    assert is_larger(Case((32, 32), (3, 3), 2, (2, 2)), small)
    assert is_larger(Case((16, 16), (5, 5), 2, (2, 2)), small)
    assert is_larger(Case((32, 32), (2, 2), 2, (2, 2)), small)  # smaller kernel, more outputs
    assert not is_larger(Case((16, 16), (15, 15), 2, (2, 2)), small)  # one output: less work
    assert not is_larger(Case((8, 32), (3, 3), 2, (2, 2)), small)  # input shorter
    assert not is_larger(Case((32, 32), (5, 5), 2, (1, 1)), small)  # other stride
    assert not is_larger(Case((32, 32), (5, 5), 2, (2, 2), dtype="float32"), small)


def test_a_method_over_budget_is_skipped_on_larger_cells_only(tmp_path):
    s = sweep_of(
        """\
        input_size: [8, 16]
        kernel_size: [5, 3]
        methods: [{slow: "cbtest_methods:slow"}, {good: "cbtest_methods:good"}]
        time_budget_s: 0.05
        """
    )
    rows = read_rows(run_sweep(s, tmp_path / "b.csv", progress=False).output)
    slow = {(r.input_h, r.kernel_h): r for r in rows[rows.method == "slow"].itertuples()}
    first = slow[(8, 5)]
    assert first.status == "ok" and "over time budget" in first.reason
    assert first.repeats == 3  # cut to min_repeats by the budget
    # 8x8 * 3x3 has a smaller kernel: not larger, so measured (and it overruns too)
    assert slow[(8, 3)].status == "ok"
    assert slow[(16, 5)].status == "skipped" and "cheaper cell 8x8 * 5x5" in slow[(16, 5)].reason
    assert slow[(16, 3)].status == "skipped"
    assert set(rows[rows.method == "good"].status) == {"ok"}


def test_memory_limit_and_unsupported_never_run_the_method(tmp_path):
    s = sweep_of(
        """\
        input_size: 8
        kernel_size: 3
        methods: [{big: "cbtest_methods:raises"}, {picky: "cbtest_methods:raises"}]
        memory_limit: 1MiB
        """
    )
    big, picky = s.methods
    big = dataclasses.replace(
        big, method=dataclasses.replace(big.method, estimate_bytes=lambda c: 2**30)
    )
    picky = dataclasses.replace(
        picky, method=dataclasses.replace(picky.method, supports=lambda c: "not on Tuesdays")
    )
    s = dataclasses.replace(s, methods=(big, picky))
    rows = read_rows(run_sweep(s, tmp_path / "m.csv", progress=False).output)
    assert list(rows.status) == ["skipped", "unsupported"]  # "raises" would have given error
    assert rows.reason[0] == "estimate 1024 MiB > memory_limit 1 MiB"
    assert rows.estimated_bytes[0] == 2**30
    assert rows.reason[1] == "not on Tuesdays"


def test_skip_rules_give_skipped_rows_with_the_rule(tmp_path):
    s = sweep_of(
        """\
        input_size: [8, 16]
        kernel_size: 3
        methods: [{good: "cbtest_methods:good"}]
        skip: [{methods: good, input_size: {min: 12}}]
        """
    )
    rows = read_rows(run_sweep(s, tmp_path / "s.csv", progress=False).output)
    # a row is written when it is finished: the skipped one at once, the timed one last
    assert list(zip(rows.input_h, rows.status, strict=True)) == [(16, "skipped"), (8, "ok")]
    assert rows.reason[0] == "skip rule 0 (input_size=12..)"


def test_interrupt_keeps_rows_and_resume_adds_the_rest_without_duplicates(tmp_path):
    out = tmp_path / "i.csv"
    s = sweep_of(MIXED)

    def stop_after_five(row, seen=[]):  # noqa: B006  (a counter across calls)
        seen.append(row)
        if len(seen) == 5:
            raise KeyboardInterrupt

    summary = run_sweep(s, out, progress=False, on_row=stop_after_five)
    assert summary.interrupted and summary.measured == 5
    assert len(read_rows(out)) == 5 and read_meta(out)["interrupted"] is True
    again = run_sweep(s, out, resume=True, progress=False)
    rows = read_rows(out)
    keys = [row_key(r) for r in rows.to_dict("records")]
    assert again.already_done == 5 and again.measured == 19
    assert read_meta(out)["first_started_at"] <= read_meta(out)["started_at"]
    assert len(keys) == len(set(keys)) == 24
    assert set(keys) == {i.key() for i in work_items(s)}


def test_resume_refuses_another_config(tmp_path):
    out = tmp_path / "c.csv"
    run_sweep(sweep_of("input_size: 8\nkernel_size: 3\nmethods: [cbtest_methods:good]\n"), out)
    other = sweep_of("input_size: 9\nkernel_size: 3\nmethods: [cbtest_methods:good]\n")
    with pytest.raises(ConfigError, match="written by a different config"):
        run_sweep(other, out, resume=True, progress=False)


def test_only_measures_the_requested_cells_and_methods_option_restricts(tmp_path):
    s = sweep_of(MIXED)
    wanted = {work_items(s)[0].key(), work_items(s)[4].key()}
    rows = read_rows(run_sweep(s, tmp_path / "o.csv", only=wanted, progress=False).output)
    assert {row_key(r) for r in rows.to_dict("records")} == wanted
    rows = read_rows(run_sweep(s, tmp_path / "p.csv", methods=["good"], progress=False).output)
    assert set(rows.method) == {"good"} and len(rows) == 8


def test_memory_pass_records_both_figures_and_peak_is_never_below_tracemalloc(tmp_path):
    s = sweep_of("input_size: 32\nkernel_size: 3\nmethods: [{t: cbtest_methods:big_temporary}]\n")
    s = dataclasses.replace(s, memory_pass=True)
    with Workers() as workers:
        (row,) = measure_case(s, work_items(s), workers)
    row = row.as_dict()
    assert row["status"] == "ok"
    assert row["tracemalloc_bytes"] >= 64 * 2**20
    assert row["peak_bytes"] >= row["tracemalloc_bytes"]
    assert row["peak_bytes"] == max(row["tracemalloc_bytes"], row["rss_peak_bytes"] or 0)


class RecordingWorkers(Workers):
    """Real workers that also note which method each timing request was for."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []
        self.servers = 0  # fork servers started

    def _start(self):
        self.servers += 1
        return super()._start()

    def run(self, request):
        if isinstance(request, TimeRequest):
            self.order.append((request.target.case.input_size[0], request.target.spec))
        return super().run(request)


def test_methods_of_a_case_are_timed_interleaved_in_fresh_processes(tmp_path, monkeypatch):
    monkeypatch.delenv(ONE_SERVER_ENV)  # the real thing: a new server per round
    s = sweep_of(
        "input_size: 16\nkernel_size: 3\nprocesses: 3\n"
        "methods: [{a: cbtest_methods:good}, {b: cbtest_methods:slow}]\n"
    )
    workers = RecordingWorkers()
    with workers:
        rows = read_rows(run_sweep(s, tmp_path / "i.csv", progress=False, workers=workers).output)
    a, b = "cbtest_methods:good", "cbtest_methods:slow"
    assert [spec for _, spec in workers.order] == [a, b, a, b, a, b]
    assert workers.servers == 3, "each round forks from a new server (a new layout)"
    assert list(rows.processes) == [3, 3]
    for r in rows.to_dict("records"):
        assert sorted(set(r["sample_process"])) == [0, 1, 2]
        assert len(r["sample_process"]) == len(r["samples_s"]) == r["repeats"] == 3
        assert len(r["process_medians_s"]) == 3 and r["process_spread"] >= 1
        assert r["time_median_s"] == pytest.approx(sorted(r["samples_s"])[1])


def test_the_processes_of_a_cell_are_spread_over_the_whole_run(tmp_path):
    s = sweep_of(
        "input_size: [8, 12, 16]\nkernel_size: 3\nprocesses: 2\n"
        "methods: [{a: cbtest_methods:good}, {b: cbtest_methods:small_blocks}]\n"
    )
    workers = RecordingWorkers()
    with workers:
        out = run_sweep(s, tmp_path / "r.csv", progress=False, workers=workers).output
    one_round = [(n, m) for n in (8, 12, 16) for m in ("good", "small_blocks")]
    assert [(n, spec.split(":")[1]) for n, spec in workers.order] == one_round * 2
    assert set(read_rows(out).status) == {"ok"} and not journal_path(out).exists()


class InterruptingWorkers(RecordingWorkers):
    """Ctrl-C arrives during the ``after``-th timing request."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def run(self, request):
        if isinstance(request, TimeRequest) and len(self.order) + 1 == self.after:
            raise KeyboardInterrupt
        return super().run(request)


def test_an_interrupt_between_rounds_loses_no_round_and_resume_takes_only_the_rest(tmp_path):
    s = sweep_of(
        "input_size: [8, 12]\nkernel_size: 3\ndepth: [0, 2]\nmethods: [cbtest_methods:good]\n"
    )
    out = tmp_path / "j.csv"
    cells = len(work_items(s))
    first = InterruptingWorkers(after=cells + 3)  # in round 2 of 3
    with first:
        summary = run_sweep(s, out, progress=False, workers=first)
    assert summary.interrupted and len(read_rows(out)) == 0
    assert pending(out) == cells + 2
    with pytest.raises(ResultsError, match=r"left 6 timing rounds in j.rounds.jsonl: --resume"):
        run_sweep(s, out, progress=False)
    again = RecordingWorkers()
    with again:
        run_sweep(s, out, resume=True, progress=False, workers=again)
    assert len(again.order) == 3 * cells - (cells + 2)  # only the rounds still missing
    rows = read_rows(out)
    assert len(rows) == cells and set(rows.status) == {"ok"} and (rows.processes == 3).all()
    assert all(len(set(p)) == 3 for p in rows.sample_process) and pending(out) == 0
    assert (rows.first_call_s > 0).all()  # from the checks journalled before the interrupt


def test_a_cell_does_not_see_what_ran_before_it(tmp_path):
    # In one long-lived process the second method would read the first one's mark and be wrong.
    s = sweep_of(
        "input_size: [8, 12]\nkernel_size: 3\n"
        "methods: [{first: cbtest_methods:leaves_a_mark},"
        " {second: cbtest_methods:needs_a_fresh_process}]\n"
    )
    rows = read_rows(run_sweep(s, tmp_path / "f.csv", progress=False).output)
    assert list(rows.status) == ["ok"] * 4, rows.reason.tolist()


def test_allocator_is_a_sweep_axis_and_a_row_key(tmp_path):
    s = sweep_of(
        "input_size: 8\nkernel_size: 3\nallocator: [default, steady]\n"
        "methods: [{g: cbtest_methods:good}]\n"
    )
    out = tmp_path / "a.csv"
    rows = read_rows(run_sweep(s, out, progress=False).output)
    assert list(rows.allocator) == ["default", "steady"] and set(rows.status) == {"ok"}
    assert len({row_key(r) for r in rows.to_dict("records")}) == 2
    assert set(read_meta(out)["allocator"]) == {"default", "steady"}


def test_a_worker_that_dies_or_hangs_is_a_row_and_the_sweep_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(CheckRequest, "timeout_s", lambda self: 2.0)
    s = sweep_of(
        "input_size: 8\nkernel_size: 3\nmethods: [{d: cbtest_methods:dies}, "
        "{h: cbtest_methods:hangs}, {g: cbtest_methods:good}]\n"
    )
    rows = read_rows(run_sweep(s, tmp_path / "d.csv", progress=False).output)
    by = rows.set_index("method")
    assert by.loc["d", "status"] == "error" and "SIGKILL" in by.loc["d", "reason"]
    assert by.loc["h", "status"] == "error" and "timed out" in by.loc["h", "reason"]
    assert by.loc["g", "status"] == "ok"


def test_layer_mode_takes_methods_inputs_and_reference_from_convbench_layer(tmp_path):
    pytest.importorskip("convbench.layer")
    s = sweep_of("input_size: 6\nkernel_size: 3\nbatch: 2\nfilters: [1, 3]\nmethods: [loops]\n")
    assert s.layer and [c.filters for c in s.cases] == [1, 3]
    rows = read_rows(run_sweep(s, tmp_path / "l.csv", progress=False).output)
    assert list(rows.status) == ["ok", "ok"] and list(rows.batch) == [2, 2]
    assert list(rows.filters) == [1, 3] and (rows.max_abs_err < 1e-12).all()


def test_measurement_overhead_alone_is_not_over_budget(tmp_path):
    # each cell takes > 5 ms to measure (calibrated 1 ms samples) but the calls take microseconds
    s = sweep_of("input_size: [8, 9]\nkernel_size: 3\nmethods: [{g: cbtest_methods:good}]\n")
    s = dataclasses.replace(s, time_budget_s=0.005)
    rows = read_rows(run_sweep(s, tmp_path / "f.csv", progress=False).output)
    assert list(rows.status) == ["ok", "ok"]
    assert not rows.reason.str.contains("over time budget").any()


def test_a_worker_cut_short_by_its_share_of_the_budget_is_not_over_budget(tmp_path):
    # 30 ms calls, 4 samples over 3 workers: each worker gets 0.2 / 3 s and spends 90 ms on
    # calibration, warm-up and its first sample, so it stops early; yet 4 calls take 0.12 s.
    s = sweep_of("input_size: [8, 9]\nkernel_size: 3\nmethods: [{s: cbtest_methods:slow}]\n")
    timing = dataclasses.replace(s.timing, warmup=1, repeats=4, min_repeats=3)
    s = dataclasses.replace(s, time_budget_s=0.2, timing=timing)
    rows = read_rows(run_sweep(s, tmp_path / "b.csv", progress=False).output)
    assert list(rows.status) == ["ok", "ok"]
    assert rows.reason.str.contains("time budget: stopped").all()
    assert not rows.reason.str.contains("over time budget").any()

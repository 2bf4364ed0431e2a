"""Verdict logic of ``convbench compare`` on synthetic samples, and the CLI's exit codes."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from convbench.cases import Case
from convbench.cli import app
from convbench.compare import (
    NOISE_POWER,
    PROBE_POWER,
    Stat,
    Thresholds,
    TimeBasis,
    Verdict,
    compare_files,
    compare_frames,
    environment_differences,
    judge_memory,
    judge_times,
    needed_ratio,
    process_spread,
    spread,
    to_markdown,
    within_spread,
)
from convbench.errors import ResultsError
from convbench.results import SCHEMA_VERSION, RowWriter, make_row, read_rows, write_meta
from convbench.rules import FACTOR

SMALL = Case(input_size=(32, 32), kernel_size=(3, 3))
BIG = Case(input_size=(64, 64), kernel_size=(5, 5), depth=2, stride=(2, 2))
META = {"cpu_model": "Test CPU 3000", "cores": 2, "versions": {"numpy": "2.0.0"}}


def noisy(median: float, n: int = 20, rel_sd: float = 0.01, seed: int = 0) -> np.ndarray:
    """``n`` per-call times around ``median`` with a relative spread of ``rel_sd``."""
    rng = np.random.default_rng(seed)
    return median * np.exp(rng.normal(0.0, rel_sd, n))


def timed_row(method: str, case: Case, median: float, *, seed: int = 0, n: int = 20, **fields):
    wall = noisy(median, n, seed=seed)
    cpu = fields.pop("cpu", wall * 0.99)
    values = dict(
        samples_s=wall,
        cpu_samples_s=cpu,
        time_min_s=float(np.min(wall)),
        time_median_s=float(np.median(wall)),
        cpu_median_s=float(np.median(cpu)),
        wall_cpu_ratio=float(np.median(wall) / np.median(cpu)),
        repeats=n,
        loops=10,
        peak_bytes=1_000_000,
    )
    values.update(fields)
    return make_row(case, method, "direct", "ok", **values)


def write_csv(path, rows, meta=META):
    with RowWriter(path, overwrite=True) as w:  # tests rewrite base.csv / cur.csv on purpose
        for r in rows:
            w.write(r)
    if meta is not None:
        write_meta(path, meta)
    return path


def compare_rows(tmp_path, base_rows, current_rows, thresholds=None):
    b = write_csv(tmp_path / "base.csv", base_rows)
    c = write_csv(tmp_path / "cur.csv", current_rows)
    return compare_files(b, c, thresholds or Thresholds())


def verdict_of(comparison, method: str, case: Case = SMALL) -> dict:
    cells = comparison.cells
    match = cells[(cells["method"] == method) & (cells["input_h"] == case.input_size[0])]
    assert len(match) == 1
    return match.iloc[0].to_dict()


# --------------------------------------------------------------------------- judge_times


def test_clear_regression_and_improvement():
    base = noisy(1e-3, seed=1)
    assert judge_times(base, noisy(1.3e-3, seed=2)).verdict is Verdict.regressed
    assert judge_times(base, noisy(0.7e-3, seed=2)).verdict is Verdict.improved
    judgement = judge_times(base, noisy(1.3e-3, seed=2))
    assert judgement.ratio == pytest.approx(1.3, rel=0.02)


@pytest.mark.parametrize("seed", range(5))
def test_pure_noise_is_unchanged(seed):
    assert judge_times(noisy(1e-3, seed=seed), noisy(1e-3, seed=seed + 100)).verdict is (
        Verdict.unchanged
    )


def test_min_median_needs_both_ratios():
    # Median 20% slower but one fast outlier keeps the minimum: not a regression by min-median,
    # a regression by the median alone.
    base = noisy(1e-3, seed=3)
    current = noisy(1.2e-3, seed=4)
    current[0] = base.min()
    assert judge_times(base, current).verdict is Verdict.unchanged
    median_only = Thresholds(stat=Stat.median)
    assert judge_times(base, current, median_only).verdict is Verdict.regressed


def test_factor_is_configurable():
    base, current = noisy(1e-3, seed=5), noisy(1.07e-3, seed=6)
    assert judge_times(base, current).verdict is Verdict.unchanged
    assert judge_times(base, current, Thresholds(factor=1.03)).verdict is Verdict.regressed


def test_mannwhitney_requires_significance():
    rule = Thresholds(stat=Stat.mannwhitney)
    clear = judge_times(noisy(1e-3, seed=7), noisy(1.3e-3, seed=8), rule)
    assert clear.verdict is Verdict.regressed and clear.p_value < 0.002
    # Big ratio of medians but wildly overlapping samples: not significant.
    base = np.array([1.0, 1.0, 1.0, 1.0, 1.5, 1.5, 1.5]) * 1e-3
    current = np.array([1.0, 1.0, 1.0, 1.5, 1.5, 1.5, 1.5]) * 1e-3
    overlapping = judge_times(base, current, Thresholds(stat=Stat.mannwhitney, max_spread=1.0))
    assert overlapping.ratio == pytest.approx(1.5)
    assert overlapping.verdict is Verdict.unchanged and overlapping.p_value > 0.002


def test_too_few_samples_is_inconclusive():
    judgement = judge_times(noisy(1e-3, n=4), noisy(2e-3, n=20))
    assert judgement.verdict is Verdict.inconclusive
    assert "too few samples (4 vs 20" in judgement.reason


def test_too_noisy_is_inconclusive():
    judgement = judge_times(noisy(1e-3, rel_sd=0.5), noisy(2e-3))
    assert judgement.verdict is Verdict.inconclusive
    assert "too noisy" in judgement.reason


def test_disturbed_regression_is_inconclusive_on_cpu_time():
    base, slow, same = noisy(1e-3, seed=1), noisy(1.3e-3, seed=2), noisy(1e-3, seed=3)
    disturbed = judge_times(base, slow, current_wall_cpu=2.0)
    assert disturbed.verdict is Verdict.inconclusive and disturbed.disturbed
    # CPU time is robust to a neighbour: a disturbed but unchanged cell stays unchanged.
    assert judge_times(base, same, current_wall_cpu=2.0).verdict is Verdict.unchanged
    # Wall time is not: any disturbed cell proves nothing.
    wall = Thresholds(time=TimeBasis.wall)
    assert judge_times(base, same, wall, base_wall_cpu=2.0).verdict is Verdict.inconclusive


def test_thresholds_reject_impossible_values():
    with pytest.raises(ValueError, match="factor"):
        Thresholds(factor=0.9)
    with pytest.raises(ValueError, match="alpha"):
        Thresholds(alpha=2)


# --------------------------------------------------------------------------- memory


@pytest.mark.parametrize(
    ("base", "current", "expected"),
    [
        (20_000_000, 22_000_000, "regressed"),  # +10 %, +2 MB
        (20_000_000, 20_800_000, "unchanged"),  # +4 % only
        (1_000_000, 1_900_000, "unchanged"),  # +90 % but under 1 MiB: RSS counter granularity
        (20_000_000, 16_000_000, "improved"),
        (float("nan"), 1_000_000, ""),
    ],
)
def test_memory_rule(base, current, expected):
    assert judge_memory(base, current) == expected


# --------------------------------------------------------------------------- whole tables


def test_cells_get_their_verdicts_worst_first(tmp_path):
    base = [
        timed_row("same", SMALL, 1e-3, seed=1),
        timed_row("slow", SMALL, 1e-3, seed=2),
        timed_row("fast", SMALL, 1e-3, seed=3),
        timed_row("gone", SMALL, 1e-3, seed=4),
        timed_row("breaks", SMALL, 1e-3, seed=5),
        timed_row("errs", SMALL, 1e-3, seed=6),
        timed_row("skips", SMALL, 1e-3, seed=7),
        make_row(SMALL, "skipped2", "fft", "skipped", reason="memory_limit"),
    ]
    current = [
        timed_row("same", SMALL, 1e-3, seed=11),
        timed_row("slow", SMALL, 1.5e-3, seed=12),
        timed_row("fast", SMALL, 0.5e-3, seed=13),
        timed_row("added", SMALL, 1e-3, seed=14),
        make_row(SMALL, "breaks", "direct", "wrong", reason="max abs err 3.0"),
        make_row(SMALL, "errs", "direct", "error", reason="MemoryError"),
        make_row(SMALL, "skips", "direct", "skipped", reason="time budget"),
        make_row(SMALL, "skipped2", "fft", "skipped", reason="memory_limit"),
    ]
    comparison = compare_rows(tmp_path, base, current)
    verdicts = dict(zip(comparison.cells["method"], comparison.cells["verdict"], strict=True))
    assert verdicts == {
        "same": "unchanged",
        "slow": "regressed",
        "fast": "improved",
        "gone": "missing",
        "added": "new",
        "breaks": "broken",
        "errs": "broken",
        "skips": "status-changed",
        "skipped2": "not-timed",
    }
    assert comparison.failed
    assert set(comparison.cells.loc[comparison.cells["failed"], "method"]) == {
        "slow",
        "breaks",
        "errs",
    }
    order = list(comparison.cells["verdict"])
    assert order[:3] == ["broken", "broken", "regressed"]
    assert order.index("missing") < order.index("improved") < order.index("unchanged")
    assert "max abs err 3.0" in verdict_of(comparison, "breaks")["reason"]


def test_noise_only_passes_and_geomean_is_near_one(tmp_path):
    base = [timed_row(m, c, 1e-3, seed=i) for i, (m, c) in enumerate([("a", SMALL), ("a", BIG)])]
    current = [
        timed_row(m, c, 1e-3, seed=9 + i) for i, (m, c) in enumerate([("a", SMALL), ("a", BIG)])
    ]
    comparison = compare_rows(tmp_path, base, current)
    assert not comparison.failed
    assert set(comparison.cells["verdict"]) == {"unchanged"}
    assert comparison.geomean == pytest.approx(1.0, abs=0.02)


def test_geomean_of_ratios(tmp_path):
    base = [timed_row("a", SMALL, 1e-3, seed=1), timed_row("a", BIG, 1e-3, seed=2)]
    current = [timed_row("a", SMALL, 2e-3, seed=1), timed_row("a", BIG, 0.5e-3, seed=2)]
    comparison = compare_rows(tmp_path, base, current)
    assert comparison.geomean == pytest.approx(1.0, rel=1e-6)  # sqrt(2 * 0.5), same noise seeds


def test_memory_regression_fails_the_cell(tmp_path):
    base = [timed_row("a", SMALL, 1e-3, seed=1, peak_bytes=1_000_000)]
    current = [timed_row("a", SMALL, 1e-3, seed=2, peak_bytes=3_000_000)]
    cell = verdict_of(compare_rows(tmp_path, base, current), "a")
    assert cell["verdict"] == "unchanged" and cell["memory"] == "regressed" and cell["failed"]


def test_cpu_time_is_compared_by_default(tmp_path):
    # Wall time doubled (a neighbour), CPU time did not: unchanged on CPU, regressed on wall.
    base = [timed_row("a", SMALL, 1e-3, seed=1)]
    current = [timed_row("a", SMALL, 2e-3, seed=2, cpu=noisy(1e-3, seed=3), wall_cpu_ratio=1.0)]
    assert verdict_of(compare_rows(tmp_path, base, current), "a")["verdict"] == "unchanged"
    on_wall = compare_rows(tmp_path, base, current, Thresholds(time=TimeBasis.wall))
    assert verdict_of(on_wall, "a")["verdict"] == "regressed"


def test_a_steadily_loaded_run_is_not_disturbed_on_cpu_time(tmp_path):
    # Every cell of the current run waited for the core (wall/CPU 2): CPU time still judges.
    # One cell far above its run's usual level was hit by a burst: it is disturbed.
    base = [timed_row(m, SMALL, 1e-3, seed=i) for i, m in enumerate("abcd")]
    current = [
        timed_row("a", SMALL, 1.3e-3, seed=11, wall_cpu_ratio=2.0),
        timed_row("b", SMALL, 1.3e-3, seed=12, wall_cpu_ratio=4.0),
        timed_row("c", SMALL, 1e-3, seed=13, wall_cpu_ratio=2.0),
        timed_row("d", SMALL, 1e-3, seed=14, wall_cpu_ratio=2.0),
    ]
    comparison = compare_rows(tmp_path, base, current)
    assert verdict_of(comparison, "a")["verdict"] == "regressed"
    assert verdict_of(comparison, "b")["verdict"] == "inconclusive"
    assert verdict_of(comparison, "b")["disturbed"]
    on_wall = compare_rows(tmp_path, base, current, Thresholds(time=TimeBasis.wall))
    assert verdict_of(on_wall, "c")["verdict"] == "inconclusive"  # wall time: absolute rule


def test_fastest_method_change_is_reported(tmp_path):
    base = [timed_row("x", SMALL, 1e-3, seed=1), timed_row("y", SMALL, 2e-3, seed=2)]
    current = [timed_row("x", SMALL, 3e-3, seed=3), timed_row("y", SMALL, 2e-3, seed=4)]
    changes = compare_rows(tmp_path, base, current).fastest_changes
    assert changes.to_dict("records") == [
        {"case": SMALL.label(), "base_fastest": "x", "fastest": "y"}
    ]


def test_environment_differences_ignore_volatile_keys():
    base = {
        "cpu_model": "A",
        "started_at": "t0",
        "git_commit": "abc",
        "threadpool_info": [
            {"user_api": "blas", "internal_api": "openblas", "version": "0.3.27",
             "num_threads": 1, "filepath": "/a/lib.so"}
        ],
    }  # fmt: skip
    current = {
        "cpu_model": "B",
        "started_at": "t1",
        "git_commit": "def",
        "threadpool_info": [
            {"user_api": "blas", "internal_api": "mkl", "version": "2024", "num_threads": 1,
             "filepath": "/b/lib.so"}
        ],
    }  # fmt: skip
    diffs = environment_differences(base, current)
    assert [d[0] for d in diffs] == ["cpu_model", "threadpool_info"]
    assert "openblas" in diffs[1][1] and "mkl" in diffs[1][2]
    assert environment_differences(base, dict(base)) == []


def test_two_cpus_of_one_model_name_differ_in_family_vector_units_and_blas_kernels(
    tmp_path, monkeypatch
):
    # Cloud VMs of one label: "AMD EPYC" on both, Zen 3 (AVX2) against Zen 4 (AVX-512).
    from convbench.measure import environment

    def details(text: str) -> dict:
        cpuinfo = tmp_path / "cpuinfo"
        cpuinfo.write_text(text)
        real = environment.Path
        monkeypatch.setattr(
            environment, "Path", lambda p: cpuinfo if p == "/proc/cpuinfo" else real(p)
        )
        return environment.cpu_details()

    block = "processor\t: {n}\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: {m}\n"
    block += "model name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx avx2 fma{f}\n\n"
    zen3 = details(block.format(n=0, m=1, f="") + block.format(n=1, m=17, f=" avx512f"))
    zen4 = details(block.format(n=0, m=17, f=" avx512f avx512dq avx512vl"))
    assert zen3 == {
        "cpu_id": "vendor AuthenticAMD, family 25, model 1",
        "cpu_simd": "sse4_2 avx avx2 fma",
    }
    pool = {"user_api": "blas", "internal_api": "openblas", "version": "0.3.30", "num_threads": 1}
    base = {
        "cpu_model": "AMD EPYC",
        **zen3,
        "threadpool_info": [{**pool, "architecture": "Haswell"}],
    }
    head = {
        "cpu_model": "AMD EPYC",
        **zen4,
        "threadpool_info": [{**pool, "architecture": "SkylakeX"}],
    }
    diffs = {key: (b, c) for key, b, c in environment_differences(base, head)}
    assert set(diffs) == {"cpu_id", "cpu_simd", "threadpool_info"}
    assert diffs["cpu_simd"][1].endswith("avx512f avx512dq avx512vl")
    assert "Haswell" in diffs["threadpool_info"][0] and "SkylakeX" in diffs["threadpool_info"][1]
    arm = details(
        "processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\nFeatures\t: fp asimd\n"
    )
    assert arm == {"cpu_id": "implementer 0x41, part 0xd0c", "cpu_simd": "asimd"}


# --------------------------------------------------------------------------- bad input


def test_no_overlap_is_an_error(tmp_path):
    with pytest.raises(ResultsError, match="share no"):
        compare_rows(tmp_path, [timed_row("a", SMALL, 1e-3)], [timed_row("b", SMALL, 1e-3)])


def test_empty_results_is_an_error(tmp_path):
    with pytest.raises(ResultsError, match="no rows"):
        compare_rows(tmp_path, [], [timed_row("b", SMALL, 1e-3)])


def test_different_schemas_are_incompatible(tmp_path):
    base = read_rows(write_csv(tmp_path / "b.csv", [timed_row("a", SMALL, 1e-3)]))
    current = base.copy()
    current["schema"] = 0
    with pytest.raises(ResultsError, match="schema"):
        compare_frames(base, current)


# --------------------------------------------------------------------------- CLI


def invoke(*args):
    return CliRunner().invoke(app, ["compare", *map(str, args)])


def test_cli_exit_codes_and_markdown(tmp_path):
    base = write_csv(tmp_path / "b.csv", [timed_row("a", SMALL, 1e-3, seed=1)])
    same = write_csv(tmp_path / "s.csv", [timed_row("a", SMALL, 1e-3, seed=2)])
    slow = write_csv(tmp_path / "r.csv", [timed_row("a", SMALL, 1.5e-3, seed=2)])
    ok = invoke(base, same)
    assert ok.exit_code == 0, ok.output
    assert "PASS" in ok.output
    md = tmp_path / "summary.md"
    bad = invoke(base, slow, "--markdown", md)
    assert bad.exit_code == 1, bad.output
    assert "regressed" in bad.output and "FAIL" in bad.output
    text = md.read_text()
    assert text.startswith("## convbench compare")
    assert "| regressed | a @ 32x32 * 3x3 s1 p0 float64 | x1.4" in text
    # A looser factor lets the same data pass.
    assert invoke(base, slow, "--factor", "1.6").exit_code == 0


def test_cli_shows_environment_differences(tmp_path):
    base = write_csv(tmp_path / "b.csv", [timed_row("a", SMALL, 1e-3, seed=1)])
    other = write_csv(
        tmp_path / "o.csv", [timed_row("a", SMALL, 1e-3, seed=2)], meta={**META, "cores": 64}
    )
    result = invoke(base, other, "--markdown", tmp_path / "m.md")
    assert result.exit_code == 0, result.output
    assert "environments differ" in result.output and "cores" in result.output
    assert "The environments differ" in (tmp_path / "m.md").read_text()


def test_markdown_lists_fastest_changes():
    # Pure function: no files needed.
    from convbench.compare import compare_frames as cf

    def frame(rows):
        import pandas as pd

        from convbench.results import parse_samples

        df = pd.DataFrame(rows)
        for col in ("samples_s", "cpu_samples_s"):
            df[col] = df[col].map(parse_samples)
        return df

    base = frame([timed_row("x", SMALL, 1e-3, seed=1), timed_row("y", SMALL, 2e-3, seed=2)])
    cur = frame([timed_row("x", SMALL, 3e-3, seed=3), timed_row("y", SMALL, 2e-3, seed=4)])
    text = to_markdown(cf(base, cur))
    assert "### Fastest method changed" in text
    assert f"| {SMALL.label()} | x | y |" in text


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "absent.csv", "no such results file"),
        (lambda p: (p / "x.csv").write_text("a,b\n1,2\n") and p / "x.csv", "not a convbench"),
        (
            lambda p: (p / "e.csv").write_bytes(b"\xff\xfe\x00bad") and p / "e.csv",
            "not a convbench",
        ),
    ],
)
def test_cli_bad_input_exits_2(tmp_path, make, message):
    good = write_csv(tmp_path / "g.csv", [timed_row("a", SMALL, 1e-3)])
    result = invoke(good, make(tmp_path))
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_unknown_schema_and_no_overlap_exit_2(tmp_path):
    good = write_csv(tmp_path / "g.csv", [timed_row("a", SMALL, 1e-3)])
    future = tmp_path / "f.csv"
    future.write_text(good.read_text().replace(f"\n{SCHEMA_VERSION},a,", "\n99,a,"))
    result = invoke(good, future)
    assert result.exit_code == 2 and "schema" in result.output
    other = write_csv(tmp_path / "o.csv", [timed_row("b", SMALL, 1e-3)])
    result = invoke(good, other)
    assert result.exit_code == 2 and "share no" in result.output


def test_cli_bad_option_exits_2(tmp_path):
    good = write_csv(tmp_path / "g.csv", [timed_row("a", SMALL, 1e-3)])
    result = invoke(good, good, "--factor", "0.5")
    assert result.exit_code == 2 and "factor must be > 1" in result.output


def test_a_baseline_of_several_runs_keeps_each_cells_slowest_run(tmp_path):
    # Three baseline processes: SMALL ran at 1.0, 1.3 and 1.1 ms; BIG was an error in run 1.
    runs = [
        write_csv(tmp_path / f"b{i}.csv", [timed_row("m", SMALL, t), big])
        for i, (t, big) in enumerate(
            [
                (1.0e-3, make_row(BIG, "m", "direct", "error", reason="boom")),
                (1.3e-3, timed_row("m", BIG, 2e-3)),
                (1.1e-3, timed_row("m", BIG, 3e-3)),
            ]
        )
    ]
    env = {(r["method"], r["input_h"]): r for r in read_rows(runs[0]).to_dict("records")}
    assert env[("m", 32)]["cpu_median_s"] < 1.1e-3  # one run alone: the fast process
    current = write_csv(tmp_path / "cur.csv", [timed_row("m", SMALL, 1.25e-3, seed=3),
                                               timed_row("m", BIG, 3.1e-3, seed=3)])  # fmt: skip
    # Against the fast run alone, 1.25 ms is a regression; against all three it is not.
    assert verdict_of(compare_files(runs[0], current), "m")["verdict"] == "regressed"
    several = compare_files(runs, current)
    assert verdict_of(several, "m")["verdict"] == "unchanged"
    assert verdict_of(several, "m", BIG)["base_status"] == "ok"  # an ok run beats the error


def test_baseline_runs_of_different_configs_are_refused(tmp_path):
    a = write_csv(tmp_path / "a.csv", [timed_row("m", SMALL, 1e-3)], {**META, "config_hash": "x"})
    b = write_csv(tmp_path / "b.csv", [timed_row("m", SMALL, 1e-3)], {**META, "config_hash": "y"})
    with pytest.raises(ResultsError, match="baseline runs come from different configs"):
        compare_files([a, b], a)


# --------------------------------------------------------------------------- between-process noise


def test_a_cell_that_wanders_between_processes_needs_a_larger_change():
    base, current = noisy(1e-3, seed=1), noisy(1.25e-3, seed=2)
    # Baseline runs that agree (x1.02): a 25 % slowdown is a regression.
    assert judge_times(base, current, base_spread=1.02).verdict is Verdict.regressed
    # Runs of the same code that disagree by x1.4: 25 % is within the cell's own noise.
    wandering = judge_times(base, current, base_spread=1.4)
    assert wandering.verdict is Verdict.inconclusive
    assert "own noise" in wandering.reason and "x1.400" in wandering.reason
    # ... and so is a 25 % speed-up; a change beyond the widened margin still counts.
    faster = judge_times(current, base, base_spread=1.4)
    assert faster.verdict is Verdict.inconclusive
    assert judge_times(base, noisy(3e-3, seed=2), base_spread=1.4).verdict is Verdict.regressed
    # Switched off, the factor alone decides again.
    off = Thresholds(noise_power=0)
    assert judge_times(base, current, off, base_spread=1.4).verdict is Verdict.regressed


@pytest.mark.parametrize(
    ("spread", "power", "expected"),
    [
        (float("nan"), NOISE_POWER, 1.10),  # one baseline run: no noise estimate
        (1.0, NOISE_POWER, 1.10),
        (1.03, 2.0, 1.10),  # quiet cell: the factor dominates
        (1.3, 2.0, 1.69),
        (1.3, 1.0, 1.3),
        (1.3, 0.0, 1.10),  # off
    ],
)
def test_needed_ratio(spread, power, expected):
    rule = Thresholds(noise_power=power)
    assert needed_ratio(rule, spread) == pytest.approx(expected)


def test_noise_power_must_not_be_negative():
    with pytest.raises(ValueError, match="noise_power"):
        Thresholds(noise_power=-1)


def test_between_run_spread_ignores_one_lone_spike_in_five_runs():
    from convbench.compare import between_run_spread

    assert np.isnan(between_run_spread(np.array([1.0])))
    assert between_run_spread(np.array([1.0, 1.5])) == pytest.approx(1.5)
    # One slow process out of five is a spike (the confirmation rounds deal with it) ...
    assert between_run_spread(np.array([1.0, 1.01, 1.02, 1.03, 1.6])) == pytest.approx(1.03 / 1.01)
    # ... a cell that wanders in most processes is noisy.
    assert between_run_spread(np.array([0.8, 1.0, 1.2, 1.3, 1.6])) == pytest.approx(1.3)


def test_several_baseline_runs_widen_a_wandering_cell_only(tmp_path):
    # "calm" agrees across five baseline processes, "wild" wanders by ~1.5x.
    speeds = {"calm": [1.0, 1.01, 0.99, 1.0, 1.02], "wild": [0.8, 1.0, 1.2, 0.9, 1.1]}
    runs = [
        write_csv(
            tmp_path / f"b{i}.csv",
            [timed_row(m, SMALL, 1e-3 * speeds[m][i], seed=i) for m in speeds],
        )
        for i in range(5)
    ]
    current = write_csv(
        tmp_path / "cur.csv",
        [timed_row(m, SMALL, 1e-3 * 1.2 * 1.2, seed=9) for m in speeds],  # x1.44 of typical
    )
    comparison = compare_files(runs, current)
    cells = comparison.cells.set_index("method")
    assert cells.loc["calm", "verdict"] == "regressed"
    assert cells.loc["wild", "verdict"] == "inconclusive"
    assert cells.loc["wild", "base_spread"] == pytest.approx(1.1 / 0.9, rel=0.02)
    # The CLI takes the same runs as several baseline files before the current one.
    result = invoke(*runs, current)
    assert result.exit_code == 1, result.output
    assert "own noise" in result.output


def test_cli_compare_needs_two_files(tmp_path):
    good = write_csv(tmp_path / "g.csv", [timed_row("a", SMALL, 1e-3)])
    result = invoke(good)
    assert result.exit_code == 2 and "current CSV" in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- noise of one run


def two_process_row(method: str, floors: tuple[float, float], **fields):
    """A row whose two worker processes' fastest calls are ``floors`` (10 samples each)."""
    a, b = noisy(floors[0], 10, seed=1), noisy(floors[1], 10, seed=2)
    a, b = a - a.min() + floors[0], b - b.min() + floors[1]
    samples = np.concatenate([a, b])
    return timed_row(
        method, SMALL, float(np.median(samples)), samples_s=samples, cpu=samples,
        time_min_s=float(samples.min()), sample_process=[0] * 10 + [1] * 10, processes=2,
        **fields,
    )  # fmt: skip


def test_process_spread_is_each_process_fastest_call():
    row = two_process_row("m", (1.0e-3, 1.3e-3))
    assert process_spread(row) == pytest.approx(1.3)
    assert np.isnan(process_spread(timed_row("m", SMALL, 1e-3)))  # one process: unknown


def test_a_run_whose_processes_disagree_needs_a_larger_change(tmp_path):
    calm = [two_process_row("m", (1.0e-3, 1.01e-3))]
    wandering = [two_process_row("m", (1.0e-3, 1.25e-3))]
    slower = [timed_row("m", SMALL, 1.35e-3, seed=3)]
    assert verdict_of(compare_rows(tmp_path, calm, slower), "m")["verdict"] == "regressed"
    cell = verdict_of(compare_rows(tmp_path, wandering, slower), "m")
    assert cell["verdict"] == "inconclusive" and "own noise" in cell["reason"]
    assert cell["needed"] == pytest.approx(1.25**NOISE_POWER)


def test_a_regression_on_a_loaded_or_slower_host_is_inconclusive(tmp_path):
    base = [timed_row("m", SMALL, 1e-3, host_load=0.0, probe_s=1e-3)]
    slow = dict(seed=1)
    loaded = [timed_row("m", SMALL, 1.3e-3, host_load=1.0, probe_s=1e-3, **slow)]
    cell = verdict_of(compare_rows(tmp_path, base, loaded), "m")
    assert cell["verdict"] == "inconclusive" and "other processes used 1.0 cores" in cell["reason"]
    # a probe x2.2 slower explains x1.10 * 2.2 ** PROBE_POWER = x1.34 of a change
    slower_host = [timed_row("m", SMALL, 1.3e-3, host_load=0.0, probe_s=2.2e-3, **slow)]
    cell = verdict_of(compare_rows(tmp_path, base, slower_host), "m")
    assert cell["verdict"] == "inconclusive" and "probe x2.20 slower" in cell["reason"]
    same_host = [timed_row("m", SMALL, 1.3e-3, host_load=0.0, probe_s=1.02e-3, **slow)]
    assert verdict_of(compare_rows(tmp_path, base, same_host), "m")["verdict"] == "regressed"
    # an improvement measured while the *baseline's* host was slow proves nothing either
    cell = verdict_of(compare_rows(tmp_path, slower_host, base), "m")
    assert cell["verdict"] == "inconclusive" and "baseline run" in cell["reason"]


def test_a_row_measured_beside_another_convbench_never_regresses(tmp_path):
    base = [timed_row("m", SMALL, 1e-3)]
    shared = [timed_row("m", SMALL, 1.3e-3, seed=1, reason="machine shared: pid 1: convbench")]
    cell = verdict_of(compare_rows(tmp_path, base, shared), "m")
    assert cell["verdict"] == "inconclusive" and "another convbench" in cell["reason"]


def test_within_spread_ignores_disagreement_between_processes():
    row = two_process_row("m", (1.0e-3, 1.5e-3))
    assert within_spread(row) < 0.05 < spread(np.asarray(row["cpu_samples_s"].split(), float))


def test_a_slower_host_explains_only_its_own_share_of_a_change(tmp_path):
    base = [timed_row("m", SMALL, 1e-3, probe_s=1e-3)]
    much_slower = [timed_row("m", SMALL, 1.6e-3, seed=1, probe_s=1.25e-3)]
    cell = verdict_of(compare_rows(tmp_path, base, much_slower), "m")
    assert cell["verdict"] == "regressed"  # x1.6 is beyond x1.10 * x1.25
    # cells share a quarter of the probe's swing in log terms (rules.PROBE_POWER), not all of
    # it: a probe x1.30 slower no longer hides a x1.25 slow-down ...
    slowed = [timed_row("m", SMALL, 1.25e-3, seed=1, probe_s=1.3e-3)]
    cell = verdict_of(compare_rows(tmp_path, base, slowed), "m")
    assert cell["verdict"] == "regressed"
    assert 1.3**PROBE_POWER * FACTOR < 1.25 < 1.3 * FACTOR
    # ... but one x1.15 slower explains a x1.12 move (x1.10 * 1.15 ** 0.25 = x1.139)
    drift = [timed_row("m", SMALL, 1.12e-3, seed=1, probe_s=1.15e-3)]
    cell = verdict_of(compare_rows(tmp_path, base, drift), "m")
    assert cell["verdict"] == "inconclusive" and "explains up to x1.139" in cell["reason"]

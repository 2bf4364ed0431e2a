"""`convbench.bench` and `Results`: configs from Python, callables by value, the files it leaves."""

from __future__ import annotations

import dataclasses
import doctest
import io
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from fixtures.synthetic import META, fft_cost, shift_add_cost, strided_view_cost, write_results
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal
from typer.testing import CliRunner

import convbench
from convbench import ConfigError, Results, ResultsError
from convbench.cli import app
from convbench.compare import compare_files
from convbench.config import load_sweep, load_sweep_text, sweep_from
from convbench.measure.worker import CheckRequest, Target, Workers
from convbench.methods.resolve import pickle_callable
from convbench.notebook import figure_kind
from convbench.plot import figures
from convbench.progress import progress_bar
from convbench.results import COLUMNS, read_meta, read_rows
from convbench.runner import reference_check

ROOT = Path(__file__).parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
#: Settings that make a sweep of a few cells take about a second (a check and 5 short samples).
FAST = {
    "processes": 1,
    "timing": {"repeats": 5, "min_sample_s": 0.001, "warmup": 0},
    "memory_pass": False,
    "progress": False,
}
ACCEPTANCE = {"input_size": [32, 64], "kernel_size": [3, 5], "depth": 0, "stride": 1}


def correlate_by_windows(x, kernel, stride, padding):
    """A correct user method: the contract's valid cross-correlation, by sliding windows."""
    (ph, pw), (sh, sw) = padding, stride
    xp = np.pad(x, ((ph, ph), (pw, pw)) + ((0, 0),) * (x.ndim - 2))
    win = np.lib.stride_tricks.sliding_window_view(xp, kernel.shape)[::sh, ::sw]
    win = win.reshape(win.shape[0], win.shape[1], -1)
    return (win @ kernel.ravel()).astype(x.dtype)


# --------------------------------------------------------------------------- configs from Python


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_a_dict_gives_the_same_sweep_as_its_yaml_file(path):
    from_file = load_sweep(path)
    from_dict = sweep_from(yaml.safe_load(path.read_text()), name=from_file.name)
    assert dataclasses.replace(from_dict, path=from_file.path) == from_file
    assert from_dict.config_hash == from_file.config_hash


def _without_place(message: str) -> str:
    """A ConfigError's message without its file and line: what the check itself said."""
    return re.sub(r" \(line \d+\)$", "", message.split(": ", 1)[1])


AXIS_VALUE = st.one_of(
    st.integers(-1, 12),
    st.lists(st.integers(0, 12), min_size=0, max_size=3),
    st.fixed_dictionaries(
        {"start": st.integers(0, 6), "stop": st.integers(0, 12), "num": st.integers(0, 3)}
    ),
    st.sampled_from(["x", 2.5, None, True, [[3, 5]], [[3, 5, 7]]]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    axes=st.dictionaries(
        st.sampled_from(["input_size", "kernel_size", "depth", "stride", "padding"]), AXIS_VALUE
    ),
    methods=st.sampled_from([["fft"], "shift-add", ["fftt"], [], {"mine": "fft"}, None, 3]),
    extra=st.dictionaries(
        st.sampled_from(
            ["seed", "threads", "time_budget_s", "memory_limit", "dtype", "input_sizes"]
        ),
        st.one_of(st.integers(-1, 3), st.sampled_from(["2GiB", "float32", "int8", 0.5])),
        max_size=2,
    ),
)
def test_a_dict_is_checked_exactly_like_yaml(axes, methods, extra):
    raw = {**axes, **extra, **({} if methods is None else {"methods": methods})}
    try:
        expected = load_sweep_text(yaml.safe_dump(raw), name="t", path="t.yaml")
    except ConfigError as e:
        with pytest.raises(ConfigError) as got:
            sweep_from(raw, name="t")
        assert str(got.value).startswith("<bench config>: ")
        assert _without_place(str(got.value)) == _without_place(str(e))
    else:
        assert dataclasses.replace(sweep_from(raw, name="t"), path="t.yaml") == expected


def test_python_values_read_as_yaml_would_give_them():
    raw = {
        "input_size": np.array([16, 32]),
        "kernel_size": (3, (3, 5)),  # tuples are lists: a square 3 and a 3x5 kernel
        "depth": np.int64(2),
        "methods": ("fft",),
    }
    s = sweep_from(raw)
    assert {(c.input_size, c.kernel_size, c.depth) for c in s.cases} == {
        ((n, n), k, 2) for n in (16, 32) for k in ((3, 3), (3, 5))
    }
    assert s.name == "bench" and s.path == "<bench config>"
    assert s.raw["input_size"] == [16, 32] and s.raw["depth"] == 2


def test_overrides_replace_keys_and_errors_say_which_came_from_them(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("input_size: [8, 12]\nkernel_size: 3\nmethods: [fft]\nseed: -1\n")
    s = sweep_from(cfg, {"input_size": [16], "seed": 4})
    assert {c.input_size for c in s.cases} == {(16, 16)} and s.seed == 4
    assert s.config_hash != sweep_from(cfg, {"seed": 4}).config_hash
    with pytest.raises(ConfigError, match=r"c\.yaml: key 'seed': must be >= 0, got -1 \(line 4\)"):
        sweep_from(cfg)
    with pytest.raises(ConfigError) as e:
        sweep_from(cfg, {"seed": 1, "input_size": 0})
    assert str(e.value) == f"{cfg} (override): key 'input_size': must be >= 1, got 0"
    with pytest.raises(ConfigError, match=r"\(override\): key 'input_sizes': unknown key"):
        sweep_from(cfg, {"seed": 1, "input_sizes": [8]})
    (tmp_path / "list.yaml").write_text("- input_size: 8\n")
    with pytest.raises(ConfigError, match="must be a mapping of keys"):
        sweep_from(tmp_path / "list.yaml", {"input_size": 8})
    (tmp_path / "empty.yaml").write_text("")
    s = sweep_from(tmp_path / "empty.yaml", {"input_size": 8, "kernel_size": 3, "methods": "fft"})
    assert len(s.cases) == 1 and s.path == str(tmp_path / "empty.yaml")
    with pytest.raises(ConfigError, match="a config is a dict of sweep keys or the path"):
        sweep_from(["input_size"])  # type: ignore[arg-type]


def test_methods_mix_names_specs_and_callables():
    def mine(x, kernel, stride, padding):
        return correlate_by_windows(x, kernel, stride, padding)

    base = {"input_size": 8, "kernel_size": 3}
    s = sweep_from(base, {"methods": {"mine": mine, "fft": "fft", "m2": "cbtest_methods:good"}})
    assert [(e.name, e.method.family) for e in s.methods] == [
        ("mine", "user"),
        ("fft", "fft"),
        ("m2", "user"),
    ]
    mine_entry = s.methods[0]
    assert mine_entry.pickled and mine_entry.spec.startswith("<callable ")
    assert mine_entry.spec.endswith("test_methods_mix_names_specs_and_callables.<locals>.mine>")
    assert s.methods[1].pickled is None and s.methods[2].pickled is None
    # A list names a callable by its __name__; the sidecar keeps a description, not an address.
    listed = sweep_from(base, {"methods": [mine, "fft"]})
    assert [e.name for e in listed.methods] == ["mine", "fft"]
    assert listed.raw["methods"] == [mine_entry.spec, "fft"]
    assert listed.config_hash == sweep_from(base, {"methods": [mine, "fft"]}).config_hash


@pytest.mark.parametrize(
    ("methods", "message"),
    [
        ([lambda x, k, s, p: x], r"key 'methods\[0\]': <callable .*<lambda>> has no name"),
        ({"fast": "fft"}, r"key 'methods': a named method is \{name: \"module:function\"\}"),
        (["fftt"], r"key 'methods\[0\]': unknown method 'fftt'"),
        ([3], r"key 'methods\[0\]': must be a method name, 'all', 'module:function' or a func"),
        ({"a": "fft", "b": "fft"}, None),  # two names for one built-in: refused, as in YAML
    ],
)
def test_bad_methods_are_one_line_errors_naming_the_key(methods, message):
    with pytest.raises(ConfigError) as e:
        convbench.bench({"input_size": 8, "kernel_size": 3}, methods=methods, **FAST)
    text = str(e.value)
    assert "\n" not in text and text.startswith("<bench config> (override): key 'methods")
    if message:
        assert re.search(message, text), text


def test_a_callable_that_cannot_be_pickled_is_a_config_error_naming_it():
    lock = threading.Lock()

    def locked(x, kernel, stride, padding):
        with lock:
            return correlate_by_windows(x, kernel, stride, padding)

    with pytest.raises(ConfigError) as e:
        convbench.bench({"input_size": 8, "kernel_size": 3}, methods={"locked": locked}, **FAST)
    assert str(e.value) == (
        "<bench config> (override): key 'methods.locked': method 'locked' cannot be sent to a "
        "worker process: it cannot be pickled (TypeError: cannot pickle '_thread.lock' object)"
    )


# --------------------------------------------------------------------------- callables in workers


def test_a_worker_runs_a_function_it_could_not_import():
    offset = 0.0  # a closure over a local: only by value can a worker have it

    def local(x, kernel, stride, padding):
        return correlate_by_windows(x, kernel, stride, padding) + offset

    case = sweep_from({"input_size": 9, "kernel_size": 3, "methods": ["fft"]}).cases[0]
    from convbench.measure.inputs import case_inputs

    check = reference_check(case, *case_inputs(case, 0))
    target = Target(case, "<callable local>", pickled=pickle_callable(local, "local"))
    with Workers() as workers:
        answer = workers.run(CheckRequest(target, check))
        broken = workers.run(CheckRequest(dataclasses.replace(target, pickled=b"junk"), check))
    assert type(answer).__name__ == "Checked" and answer.max_abs_err < 1e-12
    assert type(broken).__name__ == "WorkerFailed" and "UnpicklingError" in broken.reason


# --------------------------------------------------------------------------- bench end to end


def test_bench_rows_say_ok_wrong_and_error_and_the_sweep_goes_on(tmp_path):
    def flipped(x, kernel, stride, padding):  # convolution: the kernel turned by 180 degrees
        return correlate_by_windows(x, kernel[::-1, ::-1], stride, padding)

    def raises(x, kernel, stride, padding):
        raise ValueError(f"not for {x.shape}")

    def exits(x, kernel, stride, padding):
        sys.exit(3)

    methods = {
        "mine": correlate_by_windows,
        "flipped": flipped,
        "raises": raises,
        "exits": exits,
        "fft": "fft",
    }
    r = convbench.bench(ACCEPTANCE, methods=methods, output=tmp_path / "r.csv", **FAST)
    df = r.df
    assert list(df.columns) == list(COLUMNS) and len(df) == 4 * 5
    by = {m: df[df.method == m] for m in methods}
    assert set(by["mine"].status) == set(by["fft"].status) == {"ok"}
    assert set(by["flipped"].status) == {"wrong"} and (by["flipped"].max_abs_err > 0.1).all()
    assert by["flipped"].reason.str.contains("tolerance").all()
    assert set(by["raises"].status) == {"error"}
    assert set(by["raises"].reason) == {
        "ValueError: not for (32, 32)",
        "ValueError: not for (64, 64)",
    }
    assert (
        set(by["exits"].status) == {"error"} and by["exits"].reason.str.contains("SystemExit").all()
    )
    assert r.counts() == {"ok": 8, "wrong": 4, "error": 8}
    assert r.path == tmp_path / "r.csv" and r.summary.measured == 20
    assert r.meta["config_path"] == "<bench config>"
    assert {m["name"]: m["family"] for m in r.meta["methods"]}["mine"] == "user"
    # What is measured is in the file already, and it reads back exactly.
    assert_frame_equal(read_rows(tmp_path / "r.csv"), df)
    saved = r.save(tmp_path / "copy.csv")
    assert_frame_equal(Results.load(saved).df, df)
    assert read_meta(saved) == {**r.meta, "meta_version": r.meta["meta_version"]}
    # The same output again is refused, as `convbench run` refuses it.
    with pytest.raises(ResultsError, match="has 20 rows"):
        convbench.bench(ACCEPTANCE, methods=["fft"], output=tmp_path / "r.csv", **FAST)


def test_bench_with_a_yaml_path_overrides_and_a_temporary_output(tmp_path):
    cfg = tmp_path / "small.yaml"
    cfg.write_text("input_size: [8, 64]\nkernel_size: 3\nmethods: [fft, shift-add]\n")
    r = convbench.bench(cfg, input_size=[8, 12], methods=["shift-add"], **FAST)
    assert sorted(set(r.df.input_h)) == [8, 12] and set(r.df.method) == {"shift-add"}
    assert r.path.name == "bench.csv" and r.path.parent.name.startswith("convbench-")
    assert r.meta["config_name"] == "small" and r.meta["config"]["input_size"] == [8, 12]


def test_a_config_error_measures_nothing_and_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with pytest.raises(ConfigError, match="key 'kernel_size'"):
        convbench.bench({"input_size": 8, "kernel_size": "big", "methods": ["fft"]}, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_bench_returns_the_rows_it_measured_and_resumes(tmp_path):
    import signal

    parent, armed = os.getpid(), tmp_path / "armed"
    armed.touch()

    def stops_on_64(x, kernel, stride, padding):  # Ctrl-C, as a user would press it
        if x.shape[0] == 64 and armed.exists():
            os.kill(parent, signal.SIGINT)
        return correlate_by_windows(x, kernel, stride, padding)

    config = {"input_size": [32, 64], "kernel_size": 3}
    out = tmp_path / "r.csv"
    # A job started in the background inherits SIGINT ignored: restore Python's handler.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        r = convbench.bench(config, methods={"mine": stops_on_64, "fft": "fft"}, output=out, **FAST)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert r.interrupted and r.summary.interrupted
    assert list(r.df.input_h) == [32, 32] and r.counts() == {"ok": 2}
    assert "interrupted: bench(..., output=this file, resume=True)" in repr(r)
    # Resuming needs the same config, the same functions included (by name).
    other = {"mine": correlate_by_windows, "fft": "fft"}
    with pytest.raises(ConfigError, match="written by a different config"):
        convbench.bench(config, methods=other, output=out, resume=True, **FAST)
    armed.unlink()
    same = {"mine": stops_on_64, "fft": "fft"}
    done = convbench.bench(config, methods=same, output=out, resume=True, **FAST)
    assert not done.interrupted and len(done.df) == 4 and done.summary.already_done == 2


def test_import_convbench_stays_light():
    code = (
        "import sys, convbench; "
        "print(sorted(m for m in ('convbench.notebook', 'convbench.runner', 'matplotlib', "
        "'cloudpickle') if m in sys.modules)); "
        "print('bench' in dir(convbench), convbench.Results.__name__)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.splitlines() == ["[]", "True Results"], out.stderr


# --------------------------------------------------------------------------- Results of a CSV

MODEL = {"fft": fft_cost, "shift-add": shift_add_cost, "strided-view": strided_view_cost}


@pytest.fixture
def study(tmp_path):
    return write_results(tmp_path / "study.csv", MODEL, [8, 16, 32], [1, 3, 9])


def test_load_reads_the_csv_and_sidecar(study):
    r = Results.load(study)
    assert_frame_equal(r.df, read_rows(study))
    assert r.meta == read_meta(study) and r.meta["cpu_model"] == META["cpu_model"]
    with pytest.raises(ResultsError, match="no such results file"):
        Results.load(study.with_name("nope.csv"))


def test_save_round_trips_and_every_command_reads_the_copy(study, tmp_path):
    r = Results.load(study)
    out = r.save(tmp_path / "kept" / "copy.csv")
    assert_frame_equal(Results.load(out).df, r.df)
    for args in (
        ["plot", str(out), "-o", str(tmp_path / "figs")],
        ["compare", str(study), str(out)],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    with pytest.raises(
        ResultsError, match=r"copy\.csv has 24 rows: save\(\.\.\., overwrite=True\)"
    ):
        r.save(out)
    few = Results(r.df[r.df.method == "fft"].reset_index(drop=True), r.meta)
    assert_frame_equal(Results.load(few.save(out, overwrite=True)).df, few.df)
    with pytest.raises(ResultsError, match="unknown columns"):
        Results(r.df.assign(extra=1), r.meta).save(tmp_path / "x.csv")


def test_fastest_is_the_least_median_of_each_cell(study):
    df = read_rows(study)
    ok = df[df.status == "ok"]
    keys = ["input_h", "kernel_h"]
    expected = ok.loc[ok.groupby(keys)["time_median_s"].idxmin(), [*keys, "method"]]
    best = Results.load(study).fastest()
    got = best[[*keys, "method"]].sort_values(keys).reset_index(drop=True)
    assert_frame_equal(got, expected.sort_values(keys).reset_index(drop=True))
    assert (best["margin"] >= 1).all() and best["runner_up"].ne("").all()
    mem = Results.load(study).fastest("gflops", methods=["fft", "shift-add"])
    assert set(mem["method"]) <= {"fft", "shift-add"} and "gflops" in mem.columns


def test_plot_gives_the_figures_of_convbench_plot_and_saves_nothing(study, tmp_path):
    r = Results.load(study)
    before = sorted(p.name for p in tmp_path.iterdir())
    figs = r.plot()
    assert list(figs) == [stem for stem, _ in figures(study)]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    only = r.plot("time", kind="fastest")
    assert list(only) == ["time-d0-s1-p0-float64-fastest"]
    assert [p.name for p in only.save(tmp_path / "f", format="svg")] == [
        "time-d0-s1-p0-float64-fastest.svg"
    ]
    assert figure_kind("allocator-gain-d0-s1-p0-float64") == "allocator-gain"
    with pytest.raises(ResultsError, match="kind must be among"):
        r.plot(kind="pie")
    with pytest.raises(ResultsError, match="--metric must be one of"):
        r.plot("speed")


def test_compare_gives_the_verdicts_of_convbench_compare(tmp_path):
    base = write_results(tmp_path / "base.csv", MODEL, [8, 16], [3], seed=1)
    slow = {**MODEL, "fft": lambda case: 1.5 * fft_cost(case)}
    current = write_results(tmp_path / "new.csv", slow, [8, 16], [3], seed=2)
    expected = compare_files(base, current)
    got = Results.load(current).compare(Results.load(base))
    assert_frame_equal(got.cells, expected.cells)
    assert got.failed and set(got.cells[got.cells.method == "fft"].verdict) == {"regressed"}
    assert_frame_equal(Results.load(current).compare(base).cells, expected.cells)
    several = Results.load(current).compare([base, Results.load(base)], factor=2.0)
    assert not several.failed
    assert "FAIL" in repr(got) and got._repr_markdown_().startswith("## convbench compare")
    with pytest.raises(ResultsError, match="bad option: factor must be > 1"):
        Results.load(current).compare(base, factor=1.0)


def test_repr_counts_statuses_and_shows_the_fastest_table(tmp_path):
    model = {**MODEL, "broken": lambda case: "error", "skippy": lambda case: "skipped"}
    r = Results.load(write_results(tmp_path / "s.csv", model, [8, 16], [3]))
    text = repr(r)
    assert (
        text.splitlines()[0] == f"convbench Results: 10 rows (6 ok, 2 error, 2 skipped) in {r.path}"
    )
    assert "fastest method per cell:" in text and "8x8 * 3x3 s1 p0 float64" in text
    assert "error: broken on 8x8 * 3x3 s1 p0 float64: synthetic error" in text
    page = r._repr_html_()
    assert "<table" in page and "8x8 * 3x3 s1 p0 float64" in page and "synthetic error" in page
    nothing = Results(r.df[r.df.status != "ok"], {})
    assert "fastest" not in repr(nothing) and "<table" in nothing._repr_html_()


# --------------------------------------------------------------------------- progress


class FakeDisplay:
    """IPython's display as a notebook sees it: one output, updated in place."""

    def __init__(self):
        self.shown: list[str] = []

    def __call__(self, data, raw, display_id):
        assert raw and display_id is True
        self.shown.append(data["text/plain"])
        return self

    def update(self, data, raw):
        self.shown.append(data["text/plain"])


def test_in_a_notebook_the_bar_is_one_display_updated_in_place():
    from convbench.cases import Case

    fake = FakeDisplay()
    with progress_bar(True, 3, jupyter=True, display=fake) as bar:
        for _ in range(3):
            bar.show(Case((8, 8), (3, 3)), "fft (check)")
            bar.advance()
    assert fake.shown[0].startswith("starting") and "0/3" in fake.shown[0]
    assert fake.shown[-1].startswith("done") and "3/3" in fake.shown[-1]
    with progress_bar(True, 2, jupyter=True, display=(stopped := FakeDisplay())) as bar:
        bar.advance()
    assert stopped.shown[-1].startswith("stopped") and "1/2" in stopped.shown[-1]
    with progress_bar(False, 3, jupyter=True, display=(off := FakeDisplay())) as bar:
        bar.advance()
    assert off.shown == []


# --------------------------------------------------------------------------- the examples


def test_every_public_docstring_has_an_example_that_runs(tmp_path, monkeypatch):
    import convbench.notebook as nb

    monkeypatch.chdir(tmp_path)
    tests = {
        t.name.removeprefix("convbench.notebook."): t for t in doctest.DocTestFinder().find(nb)
    }
    public = {"bench", "Results", "Results.load", "Results.counts", "Results.fastest"}
    public |= {"Results.plot", "Results.compare", "Results.save", "Figures.save"}
    assert public <= {name for name, t in tests.items() if t.examples}
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    report = io.StringIO()
    for name in sorted(public):
        runner.run(tests[name], out=report.write)
    assert runner.failures == 0, report.getvalue()


# --------------------------------------------------------------------------- a plain Python session

SESSION = """
import sys
import numpy as np
import convbench
from numpy.lib.stride_tricks import sliding_window_view

def f(x, kernel, stride, padding):
    (ph, pw), (sh, sw) = padding, stride
    xp = np.pad(x, ((ph, ph), (pw, pw)) + ((0, 0),) * (x.ndim - 2))
    win = sliding_window_view(xp, kernel.shape)[::sh, ::sw]
    return np.tensordot(win, kernel, axes=kernel.ndim).reshape(win.shape[:2]).astype(x.dtype)

cfg = {"input_size": [32, 64], "kernel_size": [3, 5], "depth": 0, "stride": 1}
r = convbench.bench(cfg, methods={"mine": f, "fft": "fft"})
print("correct", len(r.df), sorted(set(r.df.status)))
r.save(sys.argv[1] + "/correct.csv")

fast = dict(processes=1, timing={"repeats": 5, "min_sample_s": 0.001}, memory_pass=False)
wrong = lambda x, k, s, p: f(x, k[::-1, ::-1], s, p)
r = convbench.bench(cfg, methods={"mine": wrong, "fft": "fft"}, **fast)
mine = r.df[r.df.method == "mine"]
print("wrong", sorted(set(mine.status)), bool((mine.max_abs_err > 0).all()))

def f(x, kernel, stride, padding):
    raise RuntimeError("my bug")

r = convbench.bench(cfg, methods={"mine": f, "fft": "fft"}, **fast)
mine = r.df[r.df.method == "mine"]
print("raising", sorted(set(mine.status)), sorted(set(mine.reason)))
print("fft", sorted(set(r.df[r.df.method == "fft"].status)))
"""


def test_a_plain_python_session_benchmarks_its_own_functions(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SESSION), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "correct 8 ['ok']",
        "wrong ['wrong'] True",
        "raising ['error'] ['RuntimeError: my bug']",
        "fft ['ok']",
    ]
    saved = tmp_path / "correct.csv"
    for args in (["plot", str(saved)], ["compare", str(saved), str(saved)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "correct").glob("*.png"))) == 3

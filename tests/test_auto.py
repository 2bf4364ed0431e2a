"""`auto`, the decision table (fit, save/load, choose) and the `tune` / `advise` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from convbench import advise
from convbench.api import correlate
from convbench.cases import Case
from convbench.cli import app
from convbench.errors import ConfigError, Unsupported
from convbench.methods import auto, registered
from convbench.results import RowWriter, make_row, read_rows

CASES = [
    Case((32, 32), (3, 3)),
    Case((64, 64), (9, 9), 5, (2, 2)),
    Case((64, 64), (60, 60), 10, (5, 5)),
]


def _table_from(times: dict[Case, dict[str, float]], tmp_path, name="t.csv"):
    path = tmp_path / name
    with RowWriter(path) as w:
        for case, per_method in times.items():
            for method, t in per_method.items():
                family = registered()[method].family
                w.write(make_row(case, method, family, "ok", time_median_s=t, cpu_median_s=t))
    return path


def _synthetic(winners: list[str]) -> dict[Case, dict[str, float]]:
    methods = ["shift-add-strided", "fft-rfft-polyphase", "windows-tensordot"]
    return {
        case: {m: (1e-4 if m == win else 1e-3 * (1 + i)) for i, m in enumerate(methods)}
        for case, win in zip(CASES, winners, strict=True)
    }


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    advise.forget_default_table()
    auto.set_memory_limit(None)
    yield
    advise.forget_default_table()
    auto.set_memory_limit(None)


def test_table_from_csv_picks_the_measured_fastest(tmp_path):
    winners = ["shift-add-strided", "fft-rfft-polyphase", "windows-tensordot"]
    csv = _table_from(_synthetic(winners), tmp_path)
    result = CliRunner().invoke(app, ["tune", "--from", str(csv), "-o", str(tmp_path / "t.json")])
    assert result.exit_code == 0, result.output
    table = advise.load_table(tmp_path / "t.json")
    for case, winner in zip(CASES, winners, strict=True):
        ranked = advise.choose(case, registered(), None, table)
        assert ranked[0].method == winner
        assert ranked[0].measured
        assert ranked[0].expected_time_s == pytest.approx(1e-4, rel=1e-6)


def test_tune_writes_to_the_user_cache_by_default(tmp_path):
    csv = _table_from(_synthetic(["fft-rfft-polyphase"] * 3), tmp_path)
    result = CliRunner().invoke(app, ["tune", "--from", str(csv)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cache" / "convbench" / "auto_table.json").is_file()
    assert advise.default_table().methods() == sorted(_synthetic(["fft"] * 3)[CASES[0]])


def test_table_round_trips(tmp_path):
    csv = _table_from(_synthetic(["windows-tensordot"] * 3), tmp_path)
    table = advise.build_table(read_rows(csv))
    again = advise.load_table(advise.save_table(table, tmp_path / "a.json"))
    assert again.models.keys() == table.models.keys()
    probe = Case((50, 40), (7, 5), 3, (2, 3))
    for key, model in table.models.items():
        np.testing.assert_allclose(again.models[key].coef, model.coef)
        assert again.models[key].predict(probe) == pytest.approx(model.predict(probe))


def test_load_table_rejects_other_schemas_and_garbage(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": 99}))
    with pytest.raises(ConfigError, match="schema 99 is unknown"):
        advise.load_table(bad)
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not a convbench decision table"):
        advise.load_table(bad)
    with pytest.raises(ConfigError, match="no such decision table"):
        advise.load_table(tmp_path / "missing.json")


def test_choose_respects_the_memory_budget():
    case = Case((128, 128), (33, 33), 5, (2, 2))
    methods = registered()
    free = advise.choose(case, methods, None)
    assert len(free) >= 2
    # A budget just below the largest estimate drops exactly the methods over it, in order
    # (the favourite may need the least memory of all, e.g. jit-direct where numba is installed).
    limit = max(c.expected_bytes for c in free) - 1
    limited = advise.choose(case, methods, limit)
    assert [c.method for c in limited] == [c.method for c in free if c.expected_bytes <= limit]
    assert 0 < len(limited) < len(free)
    assert all(methods[c.method].estimate_bytes(case) <= limit for c in limited)
    # and one just below the favourite's moves the choice, unless nothing fits under it
    below = free[0].expected_bytes - 1
    if any(c.expected_bytes <= below for c in free):
        assert advise.choose(case, methods, below)[0].method != free[0].method
    else:
        with pytest.raises(Unsupported, match=f"within {below} bytes"):
            advise.choose(case, methods, below)
    with pytest.raises(Unsupported, match="within 1 bytes"):
        advise.choose(case, methods, 1)


def test_choose_ranks_only_the_methods_it_is_given():
    case = Case((64, 64), (5, 5), 3, (2, 2))
    everything = registered()
    some = {name: everything[name] for name in ("fft", "shift-add")}
    ranked = advise.choose(case, some, None)
    assert {c.method for c in ranked} <= set(some) and ranked
    with pytest.raises(Unsupported, match="no tuned method"):
        advise.choose(case, {}, None)


def test_advise_does_not_import_the_methods_at_run_time():
    # auto (a registered method) calls advise, so advise must not need the registry itself.
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(advise))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    imported = [
        node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and id(node) not in typing_only
    ]
    assert imported and not [m for m in imported if m.startswith("methods")]


def test_auto_under_a_budget_runs_a_method_within_it():
    auto.set_memory_limit(200 * 2**10)
    rng = np.random.default_rng(0)
    x, k = rng.uniform(size=(64, 64, 3)), rng.uniform(size=(9, 9, 3))
    case = Case((64, 64), (9, 9), 3, (2, 2))
    chosen = auto.choice(case)
    assert registered()[chosen].estimate_bytes(case) <= 200 * 2**10
    np.testing.assert_allclose(
        correlate(x, k, 2, method="auto"), correlate(x, k, 2, method="shift-add-strided")
    )


def test_auto_is_exact_for_integers_and_cached():
    rng = np.random.default_rng(3)
    x, k = rng.integers(-9, 10, (40, 30, 2)), rng.integers(-9, 10, (5, 4, 2))
    got = correlate(x, k, (2, 3), 1, method="auto")
    np.testing.assert_array_equal(got, correlate(x, k, (2, 3), 1, method="loops"))
    case = Case((40, 30), (5, 4), 2, (2, 3), (1, 1), "int64")
    assert case in auto._CHOICES
    assert auto.choice(case) == auto._CHOICES[case]


def test_advise_prints_recommendation_and_runner_up():
    args = ["advise", "--input-size", "256", "--kernel-size", "9", "--depth", "5"]
    result = CliRunner().invoke(app, [*args, "--stride", "2", "--memory-limit", "1GiB"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "case: 256x256x5 * 9x9 s2 p0 float64"
    assert lines[1] == "memory limit: 1.0 GiB"
    for label, line in zip(("recommended", "runner-up"), lines[2:4], strict=True):
        assert line.startswith(f"{label}: ")
        assert "expected time" in line and "expected memory" in line
        assert line.split()[1] in registered()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input-size", "x"], "--input-size"),
        (["--input-size", "8", "--kernel-size", "9"], "--kernel-size"),
        (["--input-size", "8", "--dtype", "complex64"], "--dtype"),
        (["--input-size", "8", "--memory-limit", "lots"], "--memory-limit"),
    ],
)
def test_advise_bad_options_exit_2(args, message):
    base = {"--kernel-size": "3"}
    full = list(args) + [a for k, v in base.items() if k not in args for a in (k, v)]
    result = CliRunner().invoke(app, ["advise", *full])
    assert result.exit_code == 2
    assert message in result.output


def test_vectorised_prediction_matches_each_model():
    table = advise.default_table()
    for case in [*CASES, Case((100, 90), (13, 11), 4, (3, 2), (1, 2))]:
        together = table.predict_all(case)
        for name, (expected, _) in together.items():
            assert expected == pytest.approx(table.model(name, case.dtype).predict(case), rel=1e-9)


def test_tune_measures_a_sweep_with_the_runner(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "input_size: [16, 24]\nkernel_size: 3\ndepth: 2\nstride: 2\n"
        "methods: [shift-add-strided, polyphase-gemm]\nmemory_pass: false\n"
        "timing: {warmup: 1, min_sample_s: 0.001, repeats: 3, min_repeats: 3}\n"
    )
    result = CliRunner().invoke(app, ["tune", str(config), "-o", str(tmp_path / "t.json")])
    assert result.exit_code == 0, result.output
    table = advise.load_table(tmp_path / "t.json")
    assert table.methods() == ["polyphase-gemm", "shift-add-strided"]
    ranked = advise.choose(Case((16, 16), (3, 3), 2, (2, 2)), registered(), None, table)
    assert [c.measured for c in ranked] == [True, True]


def test_tune_reads_every_csv_given_and_refuses_a_second_one_without_its_own_from(tmp_path):
    one = _table_from(_synthetic(["shift-add-strided"] * 3), tmp_path, "one.csv")
    # fft-rfft-polyphase re-measured after a fix: its rows of two.csv replace those of one.csv.
    again = {case: {"fft-rfft-polyphase": 1e-5} for case in CASES}
    two = _table_from(again, tmp_path, "two.csv")
    out = tmp_path / "t.json"
    result = CliRunner().invoke(app, ["tune", "--from", str(one), str(two), "-o", str(out)])
    assert result.exit_code == 2
    assert "two.csv" in result.output and "--from a.csv --from b.csv" in result.output
    assert not out.exists()
    args = ["tune", "--from", str(one), "--from", str(two), "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = advise.load_table(out)
    assert table.meta["source"] == [str(one), str(two)]
    for case in CASES:
        ranked = advise.choose(case, registered(), None, table)
        assert ranked[0].method == "fft-rfft-polyphase"
        # not the median of the old row (2 ms) and the new one
        assert ranked[0].expected_time_s == pytest.approx(1e-5, rel=1e-6)


def test_tune_from_a_csv_without_usable_rows_exits_2(tmp_path):
    path = tmp_path / "empty.csv"
    with RowWriter(path) as w:
        w.write(make_row(CASES[0], "fft", "fft", "error", reason="boom"))
    result = CliRunner().invoke(app, ["tune", "--from", str(path), "-o", str(tmp_path / "t.json")])
    assert result.exit_code == 2
    assert "no usable rows" in result.output


def test_each_dtype_has_its_own_model(tmp_path):
    # int64 ranks methods differently (numpy's integer matmul has no BLAS): a float64-only
    # table would send int64 cases to float64's winner.
    case64 = Case((64, 64), (9, 9), 5, (2, 2))
    case_int = Case((64, 64), (9, 9), 5, (2, 2), dtype="int64")
    times = {
        case64: {"windows-tensordot": 1e-4, "shift-add-strided": 1e-3},
        case_int: {"windows-tensordot": 1e-3, "shift-add-strided": 1e-4},
    }
    table = advise.build_table(read_rows(_table_from(times, tmp_path)))
    assert advise.choose(case64, registered(), None, table)[0].method == "windows-tensordot"
    assert advise.choose(case_int, registered(), None, table)[0].method == "shift-add-strided"


def test_auto_never_runs_torch_even_where_it_was_fastest(tmp_path):
    path = tmp_path / "t.csv"
    with RowWriter(path) as w:
        for method, t in (("torch", 1e-5), ("shift-add-strided", 1e-3)):
            w.write(make_row(CASES[0], method, "library", "ok", time_median_s=t, cpu_median_s=t))
    table = advise.build_table(read_rows(path))
    fake_torch = registered()["shift-add-strided"].__class__(
        "torch", "library", "torch", lambda *a: None, lambda case: 0
    )
    methods = {**registered(), "torch": fake_torch}
    ranked = advise.choose(CASES[0], methods, None, table)
    assert [c.method for c in ranked] == ["shift-add-strided"]


def test_a_stale_user_table_falls_back_to_the_shipped_one_with_a_warning(tmp_path):
    stale = tmp_path / "cache" / "convbench" / "auto_table.json"
    stale.parent.mkdir(parents=True)
    doc = json.loads(advise.shipped_table_path().read_text())
    doc["features"] = doc["features"][:-1]  # as a table tuned by an older convbench
    stale.write_text(json.dumps(doc))
    with pytest.warns(UserWarning, match="other features.*shipped table"):
        table = advise.default_table()
    assert table.models.keys() == advise.load_table(advise.shipped_table_path()).models.keys()
    x = np.arange(64.0).reshape(8, 8)
    assert correlate(x, np.ones((3, 3)), method="auto").shape == (6, 6)

"""The gate: confirmation passes clear flukes and confirm real regressions; CLI exit codes."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import convbench.gate as gate_module
from convbench.cases import Case
from convbench.cli import app
from convbench.errors import ResultsError
from convbench.gate import confirm_path, gate_markdown, run_gate
from convbench.results import RowWriter, make_row, read_rows, row_key, write_meta

A = Case(input_size=(32, 32), kernel_size=(3, 3))
B = Case(input_size=(48, 48), kernel_size=(5, 5))
SWEEP_YAML = "input_size: [32, 48]\nkernel_size: 3\nmethods: [shift-add]\n"
META = {"cpu_model": "Test CPU", "cores": 2}


def timed_row(method, case, median, *, seed, wall_cpu=1.0, status="ok", reason=""):
    if status != "ok":
        return make_row(case, method, "direct", status, reason=reason)
    cpu = median * np.exp(np.random.default_rng(seed).normal(0, 0.01, 20))
    return make_row(
        case,
        method,
        "direct",
        "ok",
        samples_s=cpu * wall_cpu,
        cpu_samples_s=cpu,
        time_median_s=float(np.median(cpu) * wall_cpu),
        cpu_median_s=float(np.median(cpu)),
        wall_cpu_ratio=wall_cpu,
        repeats=20,
    )


def write_csv(path, rows):
    with RowWriter(path, overwrite=True) as w:  # like the gate's own passes, which re-measure
        for r in rows:
            w.write(r)
    write_meta(path, META)
    return path


class ScriptedMeasure:
    """A fake measuring pass: pass ``i`` gives each cell the (median, wall/CPU, status) scripted."""

    def __init__(self, script: dict[tuple[str, Case], list]):
        self.script = script
        self.calls: list[set | None] = []

    def __call__(self, sweep_path, output, only):
        n = len(self.calls)
        self.calls.append(None if only is None else set(only))
        rows = []
        for (method, case), passes in self.script.items():
            spec = passes[min(n, len(passes) - 1)]
            median, wall_cpu, status = (spec, 1.0, "ok") if isinstance(spec, float) else spec
            row = timed_row(method, case, median, seed=100 * n + len(rows), wall_cpu=wall_cpu,
                            status=status, reason="boom")  # fmt: skip
            if only is None or row_key(row) in only:
                rows.append(row)
        write_csv(output, rows)


@pytest.fixture(autouse=True)
def pauses(monkeypatch):
    """The gate's pauses before confirmation rounds, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(gate_module.time, "sleep", slept.append)
    return slept


@pytest.fixture
def setup(tmp_path):
    sweep = tmp_path / "ci.yaml"
    sweep.write_text(SWEEP_YAML)
    base = write_csv(
        tmp_path / "base.csv",
        [timed_row("m", A, 1e-3, seed=1), timed_row("m", B, 1e-3, seed=2)],
    )
    return sweep, base, tmp_path / "out" / "ci.csv"


def test_noise_only_passes_without_re_measuring(setup):
    sweep, base, out = setup
    measure = ScriptedMeasure({("m", A): [1e-3], ("m", B): [1.02e-3]})
    result = run_gate(sweep, base, out, measure=measure)
    assert not result.failed
    assert measure.calls == [None]
    assert result.rounds == []


def test_a_fluke_is_cleared_by_re_measuring_only_that_cell(setup):
    sweep, base, out = setup
    measure = ScriptedMeasure({("m", A): [1.3e-3, 1e-3], ("m", B): [1e-3]})
    result = run_gate(sweep, base, out, measure=measure)
    key_a = row_key({"method": "m", **A.key()})
    assert measure.calls == [None, {key_a}]
    assert not result.failed
    assert result.cleared == {key_a} and not result.confirmed
    assert result.first.failed  # the first pass alone would have cried wolf
    assert read_rows(confirm_path(out, 1))["input_h"].tolist() == [32]


def test_a_real_regression_is_confirmed(setup):
    sweep, base, out = setup
    measure = ScriptedMeasure({("m", A): [1.3e-3], ("m", B): [1e-3]})
    result = run_gate(sweep, base, out, measure=measure)
    assert result.failed
    assert len(measure.calls) == 2  # confirmed after one re-measure, no second round needed
    cell = result.final.cells.iloc[0]
    assert (cell["input_h"], cell["verdict"], cell["confirmation"]) == (
        32,
        "regressed",
        "confirmed",
    )
    text = gate_markdown(result)
    assert "1 regression(s) confirmed" in text and "confirmed: median x1.3" in text


def test_readings_sets_how_many_regressed_readings_confirm(setup):
    sweep, base, out = setup
    # Slow in the first pass and the first re-measure, fast in the second: a fluke twice over.
    script = {("m", A): [1.3e-3, 1.3e-3, 1e-3], ("m", B): [1e-3]}
    two = run_gate(sweep, base, out, readings=2, measure=ScriptedMeasure(script))
    assert two.failed and len(two.confirmed) == 1
    measure = ScriptedMeasure(script)
    three = run_gate(sweep, base, out, readings=3, measure=measure)
    assert not three.failed and len(three.cleared) == 1 and len(measure.calls) == 3
    with pytest.raises(ValueError, match="readings must be >= 1"):
        run_gate(sweep, base, out, readings=0, measure=ScriptedMeasure(script))


def test_a_disturbed_cell_needs_two_clean_readings(setup):
    sweep, base, out = setup
    disturbed = (1.3e-3, 4.0, "ok")  # 1.6x the run's usual wall/CPU
    measure = ScriptedMeasure({("m", A): [disturbed, 1.3e-3, 1.3e-3], ("m", B): [1e-3]})
    result = run_gate(sweep, base, out, measure=measure)
    assert len(measure.calls) == 3
    assert result.failed and len(result.confirmed) == 1


def test_a_cell_that_never_settles_is_unresolved_not_failed(setup):
    sweep, base, out = setup
    disturbed = (1.3e-3, 4.0, "ok")  # 1.6x the run's usual wall/CPU
    measure = ScriptedMeasure({("m", A): [1.3e-3, disturbed, disturbed], ("m", B): [1e-3]})
    result = run_gate(sweep, base, out, measure=measure)
    assert not result.failed
    assert len(result.unresolved) == 1 and len(result.rounds) == 2
    assert result.final.cells.iloc[0]["verdict"] == "inconclusive"


def test_broken_fails_without_confirmation(setup):
    sweep, base, out = setup
    measure = ScriptedMeasure({("m", A): [(1e-3, 1.0, "wrong")], ("m", B): [1e-3]})
    result = run_gate(sweep, base, out, measure=measure)
    assert result.failed and measure.calls == [None]


def test_confirmation_off_trusts_the_first_pass(setup):
    sweep, base, out = setup
    measure = ScriptedMeasure({("m", A): [1.3e-3, 1e-3], ("m", B): [1e-3]})
    result = run_gate(sweep, base, out, confirm_rounds=0, measure=measure)
    assert result.failed and measure.calls == [None]


def test_bad_baseline_fails_before_measuring(setup):
    sweep, _, out = setup
    measure = ScriptedMeasure({("m", A): [1e-3]})
    with pytest.raises(ResultsError, match="no such results file"):
        run_gate(sweep, out.parent / "nope.csv", out, measure=measure)
    assert measure.calls == []


def invoke_gate(monkeypatch, measure, *args):
    monkeypatch.setattr(gate_module, "measure_pass", measure)
    return CliRunner().invoke(app, ["gate", *map(str, args)])


def test_cli_gate_exit_codes(setup, monkeypatch):
    sweep, base, out = setup
    md = out.parent.parent / "gate.md"
    real = ScriptedMeasure({("m", A): [1.3e-3], ("m", B): [1e-3]})
    result = invoke_gate(monkeypatch, real, sweep, "--baseline", base, "-o", out, "--markdown", md)
    assert result.exit_code == 1, result.output
    assert "confirmed" in result.output and "## convbench gate" in md.read_text()
    fluke = ScriptedMeasure({("m", A): [1.3e-3, 1e-3], ("m", B): [1e-3]})
    result = invoke_gate(monkeypatch, fluke, sweep, "--baseline", base, "-o", out)
    assert result.exit_code == 0, result.output
    assert "1 cleared as noise" in result.output


def test_confirmation_rounds_are_spaced_out(setup, monkeypatch, pauses):
    sweep, base, out = setup
    real = ScriptedMeasure({("m", A): [1.3e-3], ("m", B): [1e-3]})
    result = invoke_gate(monkeypatch, real, sweep, "--baseline", base, "-o", out)
    assert result.exit_code == 1, result.output
    assert pauses == [30.0, 30.0] and "after a 30 s pause" in result.output
    pauses.clear()
    args = ["--baseline", base, "-o", out, "--confirm-wait", "2.5"]
    assert invoke_gate(monkeypatch, real, sweep, *args).exit_code == 1
    assert pauses == [2.5, 2.5]
    pauses.clear()
    quiet = ScriptedMeasure({("m", A): [1e-3], ("m", B): [1e-3]})
    assert invoke_gate(monkeypatch, quiet, sweep, "--baseline", base, "-o", out).exit_code == 0
    assert pauses == [], "nothing flagged: no pause"


def test_cli_gate_compares_with_the_slowest_baseline_run(setup, monkeypatch):
    sweep, base, out = setup
    slow_base = write_csv(
        base.with_name("base2.csv"),
        [timed_row("m", A, 1.25e-3, seed=3), timed_row("m", B, 1e-3, seed=4)],
    )
    # 1.3 ms is 1.3x the first baseline run but only 1.04x the slowest: no regression.
    real = ScriptedMeasure({("m", A): [1.3e-3], ("m", B): [1e-3]})
    args = ["--baseline", base, "--baseline", slow_base, "-o", out]
    result = invoke_gate(monkeypatch, real, sweep, *args)
    assert result.exit_code == 0, result.output
    assert real.calls == [None], "nothing flagged: no confirmation pass"


def test_cli_gate_does_not_fail_a_cell_within_its_own_noise(setup, monkeypatch):
    sweep, base, out = setup
    # Five baseline processes: A wanders between x0.8 and x1.2 (trimmed spread 1.1/0.9), B is calm.
    runs = [
        write_csv(base.with_name(f"run{i}.csv"),
                  [timed_row("m", A, 1e-3 * a, seed=10 + i), timed_row("m", B, 1e-3, seed=20 + i)])
        for i, a in enumerate([0.8, 0.9, 1.0, 1.1, 1.2])
    ]  # fmt: skip
    args = [x for run in runs for x in ("--baseline", run)] + [
        "-o",
        out,
        "--markdown",
        out.parent.parent / "g.md",
    ]
    # A at 1.38 ms (x1.15 its slowest run) stays within its noise; B at 1.3 ms regressed.
    measure = ScriptedMeasure({("m", A): [1.38e-3], ("m", B): [1.3e-3]})
    result = invoke_gate(monkeypatch, measure, sweep, *args)
    assert result.exit_code == 1, result.output
    cells = {c["input_h"]: c for c in read_rows(out).to_dict("records")}
    assert set(cells) == {32, 48}
    text = (out.parent.parent / "g.md").read_text()
    assert "| inconclusive | m @ 32x32" in text and "own noise" in text
    assert "| regressed | m @ 48x48" in text
    assert measure.calls[1:] == [{row_key(timed_row("m", B, 1e-3, seed=0))}] * 2
    # With the noise rule off, the wandering cell is flagged and re-measured too.
    measure = ScriptedMeasure({("m", A): [1.38e-3], ("m", B): [1e-3]})
    result = invoke_gate(monkeypatch, measure, sweep, *args, "--noise-power", "0")
    assert result.exit_code == 1, result.output
    assert "m @ 32x32" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline", "{tmp}/absent.csv"], "no such results file"),
        (["--baseline", "{base}", "--noise-power", "-1"], "noise_power must be >= 0"),
        (["--baseline", "{base}", "--confirm-wait", "-1"], "--confirm-wait must be >= 0"),
        (["--baseline", "{base}", "--confirm", "-1"], "--confirm must be >= 0"),
        (["--baseline", "{base}", "--factor", "1"], "factor must be > 1"),
    ],
)
def test_cli_gate_bad_input_exits_2(setup, monkeypatch, args, message):
    sweep, base, out = setup
    args = [a.format(tmp=out.parent, base=base) for a in args]
    result = invoke_gate(monkeypatch, ScriptedMeasure({}), sweep, *args, "-o", out)
    assert result.exit_code == 2 and message in result.output, result.output


def test_cli_gate_bad_config_exits_2(setup, monkeypatch):
    _, base, out = setup
    bad = out.parent.parent / "bad.yaml"
    bad.write_text("input_size: 32\nkernel_size: 3\nmethods: [no-such-method]\n")
    result = invoke_gate(monkeypatch, ScriptedMeasure({}), bad, "--baseline", base, "-o", out)
    assert result.exit_code == 2 and "no-such-method" in result.output, result.output


@pytest.mark.slow
def test_real_subprocess_pass_against_itself(tmp_path):
    # End to end through the real runner in a fresh process: a tiny sweep gated against itself.
    sweep = tmp_path / "tiny.yaml"
    sweep.write_text(
        "input_size: 16\nkernel_size: 3\nmethods: [shift-add]\nmemory_pass: false\n"
        "timing: {warmup: 1, min_sample_s: 0.001, repeats: 5, min_repeats: 3}\n"
    )
    base = tmp_path / "base.csv"
    gate_module.measure_pass(sweep, base, None)
    rows = read_rows(base)
    assert rows["status"].tolist() == ["ok"] and len(rows.loc[0, "cpu_samples_s"]) == 6
    result = run_gate(sweep, base, tmp_path / "cur.csv", confirm_rounds=1)
    assert set(result.first.cells["method"]) == {"shift-add"}

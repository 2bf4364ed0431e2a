"""`convbench run` end to end: rows and sidecar, exit codes, bad configs, kill and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convbench.cli import app
from convbench.results import COLUMNS, read_meta, read_rows, row_key

TESTS = Path(__file__).parent
FAST = "timing: {min_sample_s: 0.001, repeats: 3, warmup: 0}\n"
TINY = (
    "input_size: [8, 12]\nkernel_size: 3\ndepth: [0, 2]\nstride: 2\n"
    "methods: [{good: 'cbtest_methods:good'}, {broken: 'cbtest_methods:raises'}]\n" + FAST
)


def invoke(*args: str):
    result = CliRunner().invoke(app, ["run", *args])
    return result


def test_tiny_sweep_writes_rows_and_sidecar_to_the_default_place(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.yaml").write_text(TINY)
    result = invoke("tiny.yaml", "--no-progress")
    assert result.exit_code == 0, result.output
    out = tmp_path / "results" / "tiny.csv"
    rows = read_rows(out)
    assert list(rows.columns) == list(COLUMNS) and len(rows) == 4 * 2
    assert set(rows[rows.method == "good"].status) == {"ok"}
    assert set(rows[rows.method == "broken"].status) == {"error"}
    ok = rows[rows.status == "ok"]
    assert (ok.peak_bytes >= 0).all() and (ok.tracemalloc_bytes > 0).all()  # memory pass ran
    meta = read_meta(out)
    for key in ("config", "config_hash", "versions", "cpu_model", "cores", "threadpool_info"):
        assert meta[key] not in (None, "")
    assert meta["started_at"] <= meta["finished_at"] and "git_commit" in meta
    assert "done: 4 cells x 2 methods, 8 rows written" in result.output
    assert "rows: 4 ok, 0 skipped, 0 unsupported, 0 wrong, 4 error" in result.output
    assert "error: broken on 8x8 * 3x3 s2 p0 float64: RuntimeError: deliberately broken" in (
        result.output
    )
    assert f"results: {Path('results') / 'tiny.csv'}" in result.output


def test_methods_option_and_output_option(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY + "memory_pass: false\n")
    out = tmp_path / "elsewhere" / "x.csv"
    result = invoke(str(cfg), "-o", str(out), "--methods", "good", "--no-progress")
    assert result.exit_code == 0, result.output
    assert set(read_rows(out).method) == {"good"}
    bad = invoke(str(cfg), "-o", str(out), "--methods", "nope", "--no-progress")
    assert bad.exit_code == 2 and "--methods: unknown method 'nope'" in bad.output


BAD = [
    ("unknown key", "colour: red\n", "key 'colour': unknown key", 7),
    ("wrong type", "threads: many\n", "key 'threads': must be an integer", 7),
    ("impossible value", "padding: -1\n", "key 'padding': must be >= 0", 7),
    ("unknown method", "methods: [no-such-method]\n", "key 'methods[0]': unknown method", 7),
    ("bad import", "methods: ['no_such_mod:f']\n", "key 'methods[0]': cannot import", 7),
]


@pytest.mark.parametrize(("extra", "match", "line"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_config_is_one_line_naming_file_key_and_line_and_exit_2(tmp_path, extra, match, line):
    cfg = tmp_path / "bad.yaml"
    text = TINY if "methods" not in extra else TINY.replace(TINY.splitlines()[4] + "\n", "")
    cfg.write_text(text + extra)
    result = invoke(str(cfg), "-o", str(tmp_path / "never.csv"))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith(f"convbench: error: {cfg}: ") and match in lines[0]
    assert lines[0].endswith(f"(line {line})") if "methods" not in extra else "(line" in lines[0]
    assert not (tmp_path / "never.csv").exists()  # rejected before anything ran


def test_a_missing_config_exits_2(tmp_path):
    result = invoke(str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2 and "nope.yaml: cannot read config" in result.output


def _csv_rows(path: Path) -> int:
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_resume_after_a_killed_run_loses_and_duplicates_nothing(tmp_path, sig):
    cfg = tmp_path / "slow.yaml"
    cfg.write_text(
        "input_size: [8, 9, 10, 11, 12, 13]\nkernel_size: 3\nmemory_pass: false\n"
        "methods: [{slow: 'cbtest_methods:slow'}, {good: 'cbtest_methods:good'}]\n" + FAST
    )
    out = tmp_path / "slow.csv"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    main = "from convbench.cli import main; main()"
    cmd = [sys.executable, "-c", main, "run", str(cfg), "-o", str(out), "--no-progress"]
    # A terminal delivers Ctrl-C to a process whose SIGINT is not ignored; a CI job started in
    # the background inherits SIGINT ignored, so restore the default as a shell's foreground has.
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while _csv_rows(out) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(sig)
    output = proc.communicate(timeout=60)[0].decode()
    written = _csv_rows(out)
    assert 3 <= written < 12, output
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "interrupted:" in output and "--resume" in output
    resumed = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout.decode() + resumed.stderr.decode()
    keys = [row_key(r) for r in read_rows(out).to_dict("records")]
    assert len(keys) == len(set(keys)) == 12
    assert f"({written} already there)" in resumed.stdout.decode() or written == 12


def test_processes_option_overrides_the_config_and_rejects_zero(tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(
        "input_size: 8\nkernel_size: 3\nmethods: [shift-add]\nmemory_pass: false\n"
        "timing: {warmup: 0, min_sample_s: 0.001, repeats: 4, min_repeats: 2}\n"
    )
    out = tmp_path / "p.csv"
    result = invoke(str(cfg), "-o", str(out), "--processes", "2", "--no-progress")
    assert result.exit_code == 0, result.output
    row = read_rows(out).iloc[0]
    assert row.processes == 2 and sorted(set(row.sample_process)) == [0, 1]
    assert read_meta(out)["processes"] == 2
    bad = invoke(str(cfg), "-o", str(tmp_path / "q.csv"), "--processes", "0")
    assert bad.exit_code == 2 and "--processes: must be >= 1, got 0" in bad.output

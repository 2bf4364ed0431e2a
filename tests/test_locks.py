"""Never lose measured rows (issue 17): one writer per results file, no silent overwrite, one
measurement per machine, a clean failure on a full disk.

Every test has its own machine-wide lock folder (``conftest.py``), so none waits for a real run.
Other processes are real processes; waits have generous deadlines and nothing asserts on time.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convbench.cli import app
from convbench.errors import ConvbenchError, ResultsError
from convbench.gate import run_gate
from convbench.journal import pending
from convbench.locks import (
    HOLDER_ENV,
    SHARED_NOTE,
    lock_path,
    measuring_lock,
    others_measuring,
    output_lock,
)
from convbench.measure.worker import CheckRequest, TimeRequest, Workers
from convbench.results import RowWriter, backup_path, read_meta, read_rows, row_key

TESTS = Path(__file__).parent
FAST = "timing: {min_sample_s: 0.001, repeats: 3, warmup: 0}\nmemory_pass: false\n"
TINY = (
    "input_size: [8, 12]\nkernel_size: 3\ndepth: [0, 2]\nstride: 2\n"
    "methods: [{good: 'cbtest_methods:good'}, {other: 'cbtest_methods:good'}]\n" + FAST
)
GATED = TINY.replace("cbtest_methods:good'}]", "cbtest_methods:gated'}]")
CELLS = 8  # 4 cases x 2 methods
DEADLINE_S = 120


def invoke(*args: str):
    return CliRunner().invoke(app, ["run", *args, "--no-progress"])


def one_error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith("convbench: error: ")
    return lines[0]


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path]), **extra}


def cli_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from convbench.cli import main; main()", "run", *args]


def wait_for(condition, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


HOLD = """
import sys
from convbench.locks import measuring_lock
with measuring_lock(shared_machine={shared}):
    print("held", flush=True)
    sys.stdin.read()
"""


class Holder:
    """Another process holding the machine's measuring lock until :meth:`release`."""

    def __init__(self, shared: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD.format(shared=shared)],
            env=env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "held"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.communicate("", timeout=DEADLINE_S)

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@pytest.fixture
def tiny(tmp_path) -> tuple[Path, Path]:
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    return cfg, tmp_path / "out.csv"


def keys_of(path: Path) -> list[tuple]:
    return [row_key(r) for r in read_rows(path).to_dict("records")]


# --------------------------------------------------------------------------- one writer per file


def test_two_concurrent_runs_one_refuses_and_the_file_holds_the_others_rows(tmp_path):
    cfg, out = tmp_path / "gated.yaml", tmp_path / "out.csv"
    cfg.write_text(GATED)
    gate = tmp_path / "gate"
    gate.touch()  # the first run waits inside its first measurement until this goes
    first = subprocess.Popen(
        cli_cmd(str(cfg), "-o", str(out), "--no-progress"),
        env=env(CBTEST_GATE=str(gate)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: out.exists(), "the first run's CSV", first)
        second = invoke(str(cfg), "-o", str(out), "--overwrite")
    finally:
        gate.unlink()
        output = first.communicate(timeout=DEADLINE_S)[0].decode()
    line = one_error_line(second)
    assert f"{out}: another convbench is writing it (pid {first.pid}: " in line
    assert first.returncode == 0, output
    keys = keys_of(out)
    assert len(keys) == len(set(keys)) == CELLS and out.read_bytes().endswith(b"\n")
    assert not lock_path(out).exists()  # removed by its holder at the end


def test_output_lock_names_the_holder_and_is_removed_after(tmp_path):
    target = tmp_path / "x.csv"
    code = (
        "import sys\nfrom convbench.locks import output_lock\n"
        f"with output_lock({str(target)!r}):\n    print('held', flush=True)\n    sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], env=env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(
            ResultsError, match=rf"x\.csv: another convbench is writing it \(pid {holder.pid}"
        ):
            with output_lock(target):
                pass
    finally:
        holder.communicate(b"", timeout=DEADLINE_S)
    with output_lock(target):  # free again
        assert lock_path(target).exists()
    assert not lock_path(target).exists()


# --------------------------------------------------------------------------- no silent overwrite


def test_a_second_run_refuses_an_existing_csv_with_rows(tiny):
    cfg, out = tiny
    assert invoke(str(cfg), "-o", str(out)).exit_code == 0
    before, meta_before = out.read_bytes(), read_meta(out)
    line = one_error_line(invoke(str(cfg), "-o", str(out)))
    assert line.endswith(f"{out} has {CELLS} rows: --resume to continue, --overwrite to replace")
    assert out.read_bytes() == before and read_meta(out) == meta_before
    both = invoke(str(cfg), "-o", str(out), "--resume", "--overwrite")
    assert "choose one" in one_error_line(both)


def test_overwrite_keeps_a_backup_until_the_new_run_measures_something(tiny, monkeypatch):
    cfg, out = tiny
    assert invoke(str(cfg), "-o", str(out), "--methods", "good").exit_code == 0
    old_csv, old_meta = out.read_bytes(), out.with_suffix(".meta.json").read_bytes()
    seen = []
    commit = RowWriter.commit

    def spying_commit(self):
        seen.append(backup_path(out).exists() and backup_path(out).read_bytes() == old_csv)
        commit(self)
        seen.append(backup_path(out).exists())

    monkeypatch.setattr(RowWriter, "commit", spying_commit)
    result = invoke(str(cfg), "-o", str(out), "--overwrite")
    assert result.exit_code == 0, result.output
    # kept until the first check or timing round of the new run is on disk, then gone
    assert seen[:2] == [True, False] and not any(seen[2:])
    assert len(keys_of(out)) == CELLS and out.read_bytes() != old_csv
    assert not backup_path(out.with_suffix(".meta.json")).exists()
    assert read_meta(out)["finished_at"] and out.with_suffix(".meta.json").read_bytes() != old_meta


def test_overwrite_that_measures_nothing_puts_the_previous_file_back(tiny, monkeypatch):
    cfg, out = tiny
    assert invoke(str(cfg), "-o", str(out)).exit_code == 0
    old_csv, old_meta = out.read_bytes(), out.with_suffix(".meta.json").read_bytes()
    fail_on_call(monkeypatch, 1)  # not even the header goes through
    line = one_error_line(invoke(str(cfg), "-o", str(out), "--overwrite"))
    assert line.endswith(f"{out}: cannot write the header: No space left on device")
    assert out.read_bytes() == old_csv and out.with_suffix(".meta.json").read_bytes() == old_meta
    assert not backup_path(out).exists()


def test_a_full_disk_at_the_first_row_keeps_every_timing_round_for_resume(tiny, monkeypatch):
    cfg, out = tiny
    fail_on_call(monkeypatch, 2)  # the header goes through, the first row does not
    line = one_error_line(invoke(str(cfg), "-o", str(out)))
    assert line.endswith(f"{out}: cannot write a row: No space left on device")
    kept = pending(out)  # rounds 1 and 2 of every cell, and round 3 of the first case
    assert keys_of(out) == [] and CELLS * 2 < kept < CELLS * 3
    monkeypatch.undo()
    requests = []
    run = Workers.run
    monkeypatch.setattr(Workers, "run", lambda self, r: requests.append(r) or run(self, r))
    assert invoke(str(cfg), "-o", str(out), "--resume").exit_code == 0
    assert len(keys_of(out)) == CELLS and pending(out) == 0
    assert not any(isinstance(r, CheckRequest) for r in requests)  # all checked before
    assert sum(isinstance(r, TimeRequest) for r in requests) == CELLS * 3 - kept


# --------------------------------------------------------------------------- write failures


def fail_on_call(monkeypatch, n: int) -> None:
    """Make the ``n``-th flush of any RowWriter (the header is the first) hit a full disk."""
    calls = []
    flush = RowWriter._flush

    def full_disk(self):
        calls.append(1)
        if len(calls) == n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        flush(self)

    monkeypatch.setattr(RowWriter, "_flush", full_disk)


def test_a_full_disk_ends_the_run_cleanly_and_resume_completes(tiny, monkeypatch):
    cfg, out = tiny
    fail_on_call(monkeypatch, 4)  # header, two rows, then the disk is full
    line = one_error_line(invoke(str(cfg), "-o", str(out)))
    assert line == f"convbench: error: {out}: cannot write a row: No space left on device"
    assert out.read_bytes().endswith(b"\n")  # the failed row was undone, no torn line
    assert len(keys_of(out)) == 2
    monkeypatch.undo()  # there is room again
    result = invoke(str(cfg), "-o", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert "(2 already there)" in result.output
    keys = keys_of(out)
    assert len(keys) == len(set(keys)) == CELLS


def test_an_unwritable_output_is_one_line(tiny):
    cfg, out = tiny
    blocker = out.parent / "file"
    blocker.write_text("not a folder")
    line = one_error_line(invoke(str(cfg), "-o", str(blocker / "out.csv")))
    assert str(blocker / "out.csv") in line


# --------------------------------------------------------------- one measurement per machine


def test_no_wait_refuses_while_another_convbench_measures(tiny):
    cfg, out = tiny
    with Holder() as holder:
        line = one_error_line(invoke(str(cfg), "-o", str(out), "--no-wait"))
    assert f"another convbench is measuring on this machine (pid {holder.pid}: " in line
    assert "--shared-machine" in line and not out.exists()


def test_a_second_measurement_waits_with_a_message_then_runs(tiny):
    cfg, out = tiny
    with Holder() as holder:
        run = subprocess.Popen(
            cli_cmd(str(cfg), "-o", str(out), "--no-progress"),
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        message = run.stderr.readline()
        assert message.startswith("convbench: waiting: another convbench is measuring")
        assert f"(pid {holder.pid}: " in message
        assert run.poll() is None and not out.exists()  # still waiting: nothing measured yet
    stdout, stderr = run.communicate(timeout=DEADLINE_S)
    assert run.returncode == 0, stdout + stderr
    assert len(keys_of(out)) == CELLS
    assert not any(SHARED_NOTE in r for r in read_rows(out)["reason"])


def test_the_processes_of_one_command_are_one_measurement(tiny):
    # A child of the lock's holder (the gate's measuring passes) measures without waiting.
    cfg, out = tiny
    child = cli_cmd(str(cfg), "-o", str(out), "--no-wait", "--no-progress")
    code = (
        "import subprocess, sys\nfrom convbench.locks import measuring_lock\n"
        f"with measuring_lock():\n    sys.exit(subprocess.run({child!r}).returncode)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(keys_of(out)) == CELLS
    assert HOLDER_ENV not in os.environ


def test_shared_machine_measures_anyway_and_says_so(tiny):
    cfg, out = tiny
    with Holder() as holder:
        result = invoke(str(cfg), "-o", str(out), "--no-wait", "--shared-machine")
    assert result.exit_code == 0, result.output
    rows = read_rows(out)
    ok = rows[rows.status == "ok"]
    assert len(ok) == CELLS
    note = f"{SHARED_NOTE}: pid {holder.pid}: "
    assert all(note in r and "holds the measuring lock" in r for r in ok.reason)
    assert read_meta(out)["shared_machine"] is True


def test_an_exclusive_run_notes_a_shared_machine_run(tiny):
    cfg, out = tiny
    with Holder(shared=True) as other:
        assert f"pid {other.pid}: " in others_measuring()
        result = invoke(str(cfg), "-o", str(out), "--no-wait")  # a shared run does not block
    assert result.exit_code == 0, result.output
    ok = read_rows(out)
    assert all(f"pid {other.pid}: " in r and "--shared-machine" in r for r in ok.reason)
    assert read_meta(out)["shared_machine"] is False
    assert others_measuring() == ""  # it unregistered


def test_measuring_lock_in_process(tmp_path):
    with measuring_lock() as held:
        assert not held.shared and os.environ[HOLDER_ENV] == str(os.getpid())
        with measuring_lock(wait=False) as again:  # re-entrant within the command
            assert again.inherited
        assert held.note() == ""
    assert HOLDER_ENV not in os.environ
    with Holder(), pytest.raises(ConvbenchError, match="drop --no-wait"):
        with measuring_lock(wait=False):
            pass


# --------------------------------------------------------------------------- gate outputs


def test_the_gate_refuses_to_write_over_its_baseline(tiny):
    cfg, out = tiny
    for base, output in ((out, out), (out.with_name("ci.confirm1.csv"), out.with_name("ci.csv"))):
        with pytest.raises(ResultsError, match="this --baseline would be overwritten"):
            run_gate(cfg, [base], output)

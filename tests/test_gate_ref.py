"""``convbench gate --base REF``: base and head measured side by side, in a real git repository.

Every test makes a fresh repository with a tiny user package, commits it (the base), edits the
working tree (the head) and runs the real gate: real git worktree, real worker processes, tiny
cells. Slow-downs are gross (x20) and factors large (x3), so that no noise can flip a verdict.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convbench.cli import app
from convbench.comparison import compare_files
from convbench.gitref import base_path, checkout, repo_root
from convbench.measure.worker import ONE_SERVER_ENV, Workers
from convbench.results import read_meta, read_rows

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="gate --base needs git")

CONV = """\
import numpy as np

from convbench.methods import get_method

_shift_add = get_method("shift-add").func


def conv(x, k, stride, padding):
{body}
"""
SAME = "    return _shift_add(x, k, stride, padding)"
SLOWED = "    for _ in range(19):\n        _shift_add(x, k, stride, padding)\n" + SAME
WRONG = "    return _shift_add(x, k, stride, padding) + 1"
RAISES = "    raise RuntimeError('conv is broken')"
GREEDY = "    scratch = np.ones(1 << 20)  # 8 MiB more at its peak\n    scratch.sum()\n" + SAME
TIMING = "timing: {warmup: 0, min_sample_s: 0.001, repeats: 8, min_repeats: 1}\n"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


class Repo:
    """A git repository with a user package whose ``conv`` can be rewritten."""

    def __init__(self, path: Path, layout: str = "") -> None:
        self.path = path
        self.pkg = f"cbuser_{uuid.uuid4().hex[:10]}"  # unique: no stale import across tests
        self.src = path / layout if layout else path
        (self.src / self.pkg).mkdir(parents=True)
        (self.src / self.pkg / "__init__.py").write_text("")
        git(path, "init", "-q")
        git(path, "config", "user.email", "test@example.com")
        git(path, "config", "user.name", "test")

    def write(self, body: str, module: str = "conv") -> None:
        (self.src / self.pkg / f"{module}.py").write_text(CONV.format(body=body))

    def config(self, methods: str, sizes: str = "16", extra: str = "") -> Path:
        path = self.path / "gate.yaml"
        methods = methods.replace("PKG", self.pkg)
        text = f"input_size: {sizes}\nkernel_size: 3\nmethods: {methods}\n{TIMING}{extra}"
        path.write_text(text)
        return path

    def commit(self) -> None:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", "base")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository at ``tmp_path/repo``, the working directory while the test runs."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # the gate adds the repo; undo it after
    path = tmp_path / "repo"
    path.mkdir()
    monkeypatch.chdir(path)
    return Repo(path)


def gate(*args: object, rounds: int = 6, more_rounds: int = 0):
    """Run ``convbench gate`` in this process; the CLI's result."""
    argv = ["gate", *map(str, args), "--rounds", str(rounds), "--seed", "1"]
    argv += ["--more-rounds", str(more_rounds)]
    return CliRunner().invoke(app, argv)


def cells(path: Path = Path("out/g.csv"), factor: float = 3) -> dict[str, dict]:
    """The verdicts of the gate's CSVs (base beside head), by method and input size."""
    comparison = compare_files(path.with_name("g.base.csv"), path, factor=factor)
    return {f"{c['method']}@{c['input_h']}": c for c in comparison.cells.to_dict("records")}


MINE = '[{mine: "PKG.conv:conv"}]'


def test_same_code_passes(repo):
    repo.write(SAME)
    config = repo.config(MINE, sizes="[16, 24]")
    repo.commit()
    result = gate(config, "--base", "HEAD", "-o", "out/g.csv", "--factor", "3")
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output and "paired rounds" in result.output
    base, head = read_rows("out/g.base.csv"), read_rows("out/g.csv")
    assert base["status"].tolist() == head["status"].tolist() == ["ok", "ok"]
    assert head["processes"].tolist() == [6, 6], "one worker process per round"
    assert read_meta("out/g.csv")["paired"]["side"] == "head"
    assert {c["verdict"] for c in cells().values()} <= {"unchanged", "inconclusive"}
    assert git(repo.path, "worktree", "list").count("\n") == 0, "the base worktree is gone"
    # compare knows the two files for a paired measurement and judges them so.
    result = CliRunner().invoke(app, ["compare", "out/g.base.csv", "out/g.csv", "--all"])
    assert result.exit_code == 0, result.output
    assert "interval" in result.output and "over 6 rounds" in result.output


def test_slowed_code_fails_with_the_cell_regressed(repo, tmp_path, monkeypatch):
    monkeypatch.delenv(ONE_SERVER_ENV)  # the real thing: new servers every round
    starts = []
    real_start = Workers._start
    monkeypatch.setattr(Workers, "_start", lambda self: starts.append(None) or real_start(self))
    repo.write(SAME)
    config = repo.config(f'[shift-add, {{mine: "{repo.pkg}.conv:conv"}}]')
    repo.commit()
    repo.write(SLOWED)  # the head does 20x the work; the base must measure its own, plain copy
    md = tmp_path / "gate.md"
    args = (config, "--base", "HEAD", "-o", "out/g.csv", "--factor", "3", "--markdown", md)
    result = gate(*args, more_rounds=3)
    assert result.exit_code == 1, result.output
    verdicts = {k: c["verdict"] for k, c in cells().items()}
    assert verdicts["mine@16"] == "regressed"
    assert verdicts["shift-add@16"] != "regressed"
    text = md.read_text()
    assert "| regressed | mine @ 16x16" in text and "### Measurement" in text
    # The cell that moved beyond the factor got 3 more rounds on both sides; the other none.
    processes = {
        side: dict(zip(rows["method"], rows["processes"], strict=True))
        for side, rows in (("base", read_rows("out/g.base.csv")), ("head", read_rows("out/g.csv")))
    }
    assert processes["base"] == processes["head"] == {"shift-add": 6, "mine": 9}
    # Every round (the 3 more included) forks from new servers on both sides.
    slots = 4 if read_meta("out/g.csv")["paired"]["duet_cpus"] else 2
    assert 2 * 9 <= len(starts) <= slots * 9  # at least one new server a side per round
    assert read_meta("out/g.csv")["paired"]["extended"] == ["mine @ 16x16 * 3x3 s1 p0 float64"]
    assert "got 3 more rounds" in result.output and "over 9 rounds" in text


def test_both_orders_one_cpu(repo):
    # --no-duet: the sides take turns on one CPU, in a random order each round.
    repo.write(SAME)
    config = repo.config(MINE)
    repo.commit()
    repo.write(SLOWED)
    result = gate(config, "--base", "HEAD", "-o", "out/g.csv", "--factor", "3", "--no-duet")
    assert result.exit_code == 1, result.output
    assert "one after the other" in result.output
    assert read_meta("out/g.csv")["paired"]["duet_cpus"] is None


def test_the_time_budget_skips_larger_cells_on_both_sides(repo):
    # Round 1 finds the 16x16 cell over a (tiny) budget: the 24x24 cell is skipped on both
    # sides alike, so it compares as not timed, never as new or missing.
    repo.write(SAME)
    config = repo.config(MINE, sizes="[16, 24]", extra="time_budget_s: 0.000001\n")
    repo.commit()
    result = gate(config, "--base", "HEAD", "-o", "out/g.csv", "--factor", "3", "--no-duet")
    assert result.exit_code == 0, result.output
    for side in ("out/g.base.csv", "out/g.csv"):
        rows = read_rows(side).set_index("input_h")
        assert rows.loc[16, "status"] == "ok" and "over time budget" in rows.loc[16, "reason"]
        assert rows.loc[24, "status"] == "skipped"
    assert cells()["mine@24"]["verdict"] == "not-timed"


def test_a_memory_regression_fails(repo):
    repo.write(SAME)
    config = repo.config(MINE)
    repo.commit()
    repo.write(GREEDY)
    # A factor no time ratio here reaches: only the memory can fail this gate.
    result = gate(config, "--base", "HEAD", "-o", "out/g.csv", "--factor", "1000")
    assert result.exit_code == 1, result.output
    cell = cells(factor=1000)["mine@16"]
    assert cell["memory"] == "regressed" and cell["verdict"] != "regressed"
    assert cell["peak_bytes"] - cell["base_peak_bytes"] > 7 * 2**20


def test_a_method_broken_at_the_head_fails_one_fixed_there_does_not(repo):
    repo.write(SAME)
    repo.write(SAME, module="conv2")
    repo.write(RAISES, module="conv3")
    methods = '[{wrong: "PKG.conv:conv"}, {raises: "PKG.conv2:conv"}, {fixed: "PKG.conv3:conv"}]'
    config = repo.config(methods)
    repo.commit()
    repo.write(WRONG)
    repo.write(RAISES, module="conv2")
    repo.write(SAME, module="conv3")
    result = gate(config, "--base", "HEAD", "-o", "out/g.csv", "--factor", "3")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    verdicts = {k: c["verdict"] for k, c in cells().items()}
    assert verdicts == {"wrong@16": "broken", "raises@16": "broken", "fixed@16": "status-changed"}
    # The base ran its own copies: correct, correct, raising (the head's are the reverse).
    base = read_rows("out/g.base.csv")
    assert dict(zip(base["method"], base["status"], strict=True)) == {
        "wrong": "ok",
        "raises": "ok",
        "fixed": "error",
    }


def test_a_new_method_is_new(repo):
    repo.write(SAME)
    repo.commit()
    repo.write(SAME, module="conv2")  # not in the base commit
    config = repo.config(f'[shift-add, {{mine: "{repo.pkg}.conv2:conv"}}]')
    result = gate(config, "--base", "HEAD", "-o", "out/g.csv", "--factor", "3")
    assert result.exit_code == 0, result.output
    cell = cells()["mine@16"]
    assert cell["verdict"] == "new"
    assert "Not at HEAD: mine" in result.output


def one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convbench: error:"), result.output
    for needle in needles:
        assert needle in lines[0], result.output


def test_unknown_ref_exits_2(repo):
    repo.write(SAME)
    config = repo.config(MINE)
    repo.commit()
    one_line_error(gate(config, "--base", "no-such-branch", "-o", "out/g.csv"), "no such commit")


def test_not_a_git_repository_exits_2(tmp_path, monkeypatch):
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    config = plain / "gate.yaml"
    config.write_text(f"input_size: 16\nkernel_size: 3\nmethods: [shift-add]\n{TIMING}")
    one_line_error(gate(config, "--base", "HEAD", "-o", "g.csv"), "not a git repository")


def test_a_base_without_the_method_exits_2(repo):
    (repo.path / "README").write_text("the package comes later\n")
    git(repo.path, "add", "README")
    git(repo.path, "commit", "-q", "-m", "before the package")
    repo.write(SAME)
    config = repo.config(MINE)
    one_line_error(
        gate(config, "--base", "HEAD", "-o", "out/g.csv"),
        "do not run there",
        "cannot import",
    )
    assert not Path("out/g.csv").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rounds", "3"], "needs at least 6 rounds"),
        (["--more-rounds", "-1"], "--more-rounds must be >= 0"),
        (["--confirm", "2"], "only apply to --baseline"),
        (["--baseline", "x.csv"], "not both"),
        (["--factor", "1"], "factor must be > 1"),
    ],
)
def test_bad_options_exit_2(repo, args, message):
    repo.write(SAME)
    config = repo.config(MINE)
    repo.commit()
    argv = ["gate", str(config), "--base", "HEAD", "-o", "out/g.csv", "--rounds", "6", *args]
    one_line_error(CliRunner().invoke(app, argv), message)


def test_src_layout(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    path = tmp_path / "repo"
    path.mkdir()
    monkeypatch.chdir(path)
    repo = Repo(path, layout="src")
    repo.write(SAME)
    config = repo.config(MINE)
    repo.commit()
    repo.write(SLOWED)
    result = gate(config, "--base", "HEAD", "-o", "out/g.csv", "--factor", "3", "--src", "src")
    assert result.exit_code == 1, result.output
    assert cells()["mine@16"]["verdict"] == "regressed"


def test_the_worktree_goes_away_on_interrupt(repo):
    repo.write(SAME)
    repo.commit()
    sha = git(repo.path, "rev-parse", "HEAD")
    with pytest.raises(KeyboardInterrupt), checkout(repo.path, sha) as tree:
        assert (tree / repo.pkg / "conv.py").exists()
        raise KeyboardInterrupt
    assert not tree.exists() and not tree.parent.exists()
    assert git(repo.path, "worktree", "list").count("\n") == 0


def test_the_worktree_goes_away_on_sigterm(repo, tmp_path):
    # A cancelled CI job gets SIGTERM, whose default action would skip every finally block.
    repo.write(SAME)
    repo.commit()
    sha = git(repo.path, "rev-parse", "HEAD")
    ready = tmp_path / "tree-path"
    script = (
        "import sys, time\nfrom pathlib import Path\nfrom convbench.gitref import checkout\n"
        f"with checkout(Path({str(repo.path)!r}), {sha!r}) as tree:\n"
        f"    Path({str(ready)!r}).write_text(str(tree))\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    for _ in range(300):
        if ready.exists() and ready.read_text():
            break
        time.sleep(0.1)
    tree = Path(ready.read_text())
    assert tree.exists()
    child.terminate()
    assert child.wait(timeout=30) == 143
    assert not tree.exists() and not tree.parent.exists()
    assert git(repo.path, "worktree", "list").count("\n") == 0


def test_base_path_points_the_head_tree_into_the_base(tmp_path):
    head, base = tmp_path / "head", tmp_path / "base"
    for d in (head / "src", head / "only-head", base / "src", tmp_path / "elsewhere"):
        d.mkdir(parents=True)
    entries = ["", str(head / "src"), str(head / "only-head"), str(tmp_path / "elsewhere"), "hook"]
    got = base_path(entries, head.resolve(), base, head)
    assert got == (str(base), str(base / "src"), str(tmp_path / "elsewhere"), "hook")


def test_repo_root_of_a_subdirectory(repo):
    (repo.path / "sub").mkdir()
    assert repo_root(repo.path / "sub") == repo.path.resolve()


@pytest.mark.slow
def test_convbench_gates_its_own_built_ins(tmp_path):
    # The repository is convbench itself: base workers must run the base's built-in methods.
    # The head breaks shift-add; if the base imported the head's copy, both sides would be wrong
    # and the cell "not-timed" instead of "broken".
    repo = tmp_path / "cb"
    shutil.copytree(
        ROOT / "convbench", repo / "convbench", ignore=shutil.ignore_patterns("__pycache__")
    )
    (repo / "gate.yaml").write_text(
        f"input_size: 16\nkernel_size: 3\nmethods: [shift-add, fft]\n{TIMING}"
    )
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "config", "user.name", "test")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    direct = repo / "convbench" / "methods" / "direct.py"
    last = "    return acc[:: stride[0], :: stride[1]].copy()\n"
    assert last in direct.read_text()
    direct.write_text(direct.read_text().replace(last, last.rstrip() + " + 1\n"))
    env = {**os.environ, "PYTHONPATH": str(repo)}
    done = subprocess.run(
        [sys.executable, "-m", "convbench", "gate", "gate.yaml", "--base", "HEAD", "-o", "g.csv",
         "--rounds", "6", "--factor", "3"],
        cwd=repo, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    base, head = read_rows(repo / "g.base.csv"), read_rows(repo / "g.csv")
    assert dict(zip(base["method"], base["status"], strict=True)) == {
        "shift-add": "ok",
        "fft": "ok",
    }
    assert dict(zip(head["method"], head["status"], strict=True)) == {
        "shift-add": "wrong",
        "fft": "ok",
    }

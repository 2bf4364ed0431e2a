"""``convbench gate CONFIG --base REF``: base and head measured side by side, here and now.

The head is the working tree; the base is commit REF checked out into a temporary worktree
(:mod:`convbench.gitref`). Each side gets its own workers: the head's import what this process
imports, the base's import from the base's checkout first (a user's package as it was at REF,
or convbench's own methods when the repository is convbench). Both sides measure the head's
config in paired rounds (:mod:`convbench.paired`); each side's rows go to a CSV (``-o`` and
``<stem>.base.csv`` beside it) and the two are judged by
:func:`convbench.comparison.compare_paired`.

Bad input (not a git repository, no such commit, a config error, a base that can run none of
the config's methods) raises :class:`ConvbenchError` (exit 2 at the CLI) before or instead of a
verdict; a method that fails on one side is a cell verdict (``broken``, ``new``), never an error.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .comparison import Comparison, compare_paired
from .config import Sweep, load_sweep
from .errors import ConfigError, ConvbenchError
from .gitref import base_cwd, base_path, checkout, repo_root, resolve, source_dir
from .locks import output_lock
from .measure.environment import pinned_threads
from .measure.worker import Workers, optional_preload, preloaded_specs, worker_cpus
from .paired import BaseUnavailable, PairedRun, Side, duet_cpus, measure_paired
from .progress import progress_bar
from .results import Row, RowWriter, read_meta, read_rows, write_meta
from .rules import MORE_ROUNDS, ROUNDS, Thresholds, Verdict
from .runner import sidecar, utc_now
from .stats import min_rounds
from .work import work_items


@dataclass
class RefGate:
    """What ``gate --base`` measured and concluded.

    ``unavailable`` maps a method the base could not run to why (its cells read ``new``).
    """

    comparison: Comparison
    ref: str
    sha: str
    head_csv: Path
    base_csv: Path
    rounds: int
    duet_cpus: tuple[tuple[int, ...], ...] | None
    wall_s: float
    unavailable: dict[str, str] = field(default_factory=dict)
    together: int = 0  # paired timing calls of a duet run side by side ...
    one_by_one: int = 0  # ... and one after the other (the second CPU was busy)
    more_rounds: int = 0
    extended: list[str] = field(default_factory=list)  # cells that got ``more_rounds`` more

    @property
    def failed(self) -> bool:
        return self.comparison.failed

    def lines(self) -> list[str]:
        """Plain-text lines saying what was measured, and how."""
        how = (
            "duet: base and head at the same time, one per CPU "
            + " / ".join(",".join(map(str, c)) or "unpinned" for c in self.duet_cpus)
            + " (drawn per round)"
            if self.duet_cpus
            else "base and head one after the other, in a random order per round"
        )
        if self.duet_cpus and self.one_by_one:
            how += (
                f"; {self.one_by_one} of {self.together + self.one_by_one} paired timings one "
                "after the other, in a random order, while other processes kept a second CPU "
                "busy"
            )
        out = [
            f"Base: {self.ref} ({self.sha[:12]}) -> {self.base_csv}; head: the working tree "
            f"-> {self.head_csv}.",
            f"{self.rounds} paired rounds, each a fresh worker per side and cell; {how}; "
            f"{self.wall_s:.0f} s.",
        ]
        if self.extended:
            out.append(
                f"{len(self.extended)} cell(s) moved beyond the factor and got {self.more_rounds} "
                f"more rounds: {', '.join(self.extended)}."
            )
        out += [f"Not at {self.ref}: {name}: {why}" for name, why in self.unavailable.items()]
        return out


def base_csv_path(output: str | os.PathLike) -> Path:
    """``results/ci.csv`` -> ``results/ci.base.csv``: where the base side's rows go."""
    p = Path(output)
    return p.with_name(f"{p.stem}.base{p.suffix}")


def _slots(
    sweep: Sweep, duet: bool | None, base_env: dict[str, object]
) -> tuple[Side, Side, tuple[tuple[int, ...], ...] | None]:
    cpus = duet_cpus(sweep.cpu, sweep.threads) if duet is not False else None
    if duet and cpus is None:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        raise ConfigError(
            f"--duet needs {2 * sweep.threads} CPUs ({sweep.threads} thread(s) a side); "
            f"this process may use {n}"
        )
    sets = cpus or (worker_cpus(sweep.cpu, sweep.threads),)
    # Both sides preload the same libraries, or torch's import would land on one side only.
    preload = optional_preload(e.method for e in sweep.methods)
    only = preloaded_specs((e.spec, e.method) for e in sweep.methods)
    base = Side(
        "base",
        tuple(
            Workers(sweep.threads, c, preload=preload, preload_for=only, **base_env)  # type: ignore[arg-type]
            for c in sets
        ),
    )
    head = Side(
        "head",
        tuple(Workers(sweep.threads, c, preload=preload, preload_for=only) for c in sets),
    )
    return base, head, cpus


def _write(path: Path, rows: list[Row], meta: dict) -> None:
    with output_lock(path), RowWriter(path, overwrite=True) as writer:
        for row in rows:
            writer.write(row)
    write_meta(path, meta)


def run_ref_gate(
    sweep_path: str | os.PathLike,
    ref: str,
    output: str | os.PathLike,
    thresholds: Thresholds | None = None,
    *,
    rounds: int = ROUNDS,
    more_rounds: int = MORE_ROUNDS,
    duet: bool | None = None,
    src: str | None = None,
    cwd: str | os.PathLike | None = None,
    seed: int | None = None,
    progress: bool = False,
) -> RefGate:
    """Measure the working tree against commit ``ref`` on this machine and judge every cell.

    Parameters
    ----------
    sweep_path
        The config (YAML) of the working tree; both sides measure its cells.
    ref
        Any commit-ish of the repository ``cwd`` is in (a sha, ``HEAD~1``, ``origin/main``).
    output
        The head's rows; the base's go to :func:`base_csv_path` of it. Both are replaced.
    thresholds
        The rule (default: :meth:`Thresholds.for_mode` with ``paired=True``).
    rounds
        Paired rounds; at least :func:`convbench.stats.min_rounds` of the confidence.
    more_rounds
        More rounds for each cell whose median ratio after ``rounds`` lies beyond the factor
        (0: none); see :mod:`convbench.paired`.
    duet
        Measure the sides at the same time on two CPUs: ``None`` when the machine has them,
        ``True`` (an error without them), ``False`` one after the other.
    src
        A directory (relative to ``cwd``) holding the user's packages (a ``src/`` layout): on
        the path of both sides, each from its own tree.
    cwd
        Where the gate runs (default: the working directory): the repository and the head.
    seed
        Seeds the random order of sides, CPUs and methods (default: drawn, and recorded in the
        sidecars as ``paired.order_seed``).
    progress
        Show a progress bar.

    Cost: one ``git worktree add``, four (duet) or two worker servers, and per ``ok`` cell
    and side one check, ``rounds`` timings (``+ more_rounds`` where the cell moved) and one
    memory pass.

    Raises
    ------
    ConvbenchError
        Not a git repository, unknown ``ref``, a bad config or option, or a base that can run
        none of the config's methods.
    KeyboardInterrupt
        Interrupted: no verdict, nothing written; the worktree is removed.
    """
    thresholds = thresholds or Thresholds.for_mode(paired=True)
    needed = min_rounds(thresholds.confidence)
    if rounds < needed:
        raise ConfigError(
            f"--rounds {rounds}: a {thresholds.confidence:.0%} interval needs at least "
            f"{needed} rounds"
        )
    if more_rounds < 0:
        raise ConfigError(f"bad option: --more-rounds must be >= 0, got {more_rounds}")
    here = Path(cwd or os.getcwd()).resolve()
    root = repo_root(here)
    sha = resolve(root, ref)
    if src is not None:
        source = str(source_dir(here, src))
        if source not in sys.path:
            sys.path.insert(0, source)
    sweep = load_sweep(sweep_path)
    output = Path(output)
    base_output = base_csv_path(output)
    seed = random.SystemRandom().randrange(2**32) if seed is None else seed
    started, t0 = utc_now(), time.perf_counter()
    entries = [p or str(here) for p in sys.path]
    with checkout(root, sha) as tree, contextlib.ExitStack() as stack:
        base_env = {
            "pythonpath": base_path(entries, root, tree, here),
            "cwd": str(base_cwd(root, tree, here)),
            "log": str(tree.parent / "base-workers.log"),
        }
        base, head, cpus = _slots(sweep, duet, base_env)
        for workers in (*base.slots, *head.slots):
            stack.enter_context(workers)
            workers.start()  # all servers import side by side while the first case is set up
        stack.enter_context(pinned_threads(sweep.threads))  # for the references computed here
        bar = stack.enter_context(progress_bar(progress, rounds * len(work_items(sweep))))
        try:
            run = measure_paired(
                sweep,
                base,
                head,
                rounds=rounds,
                more_rounds=more_rounds,
                factor=thresholds.factor,
                basis=thresholds.time,
                rng=random.Random(seed),
                show=bar.show,
                advance=bar.advance,
            )
        except BaseUnavailable as e:
            raise ConvbenchError(
                f"--base {ref} ({sha[:12]}): the config's methods do not run there: {e.reason}"
                + (" (a src/ layout? pass --src DIR)" if src is None else "")
            ) from None
    wall_s = time.perf_counter() - t0
    pairing = {
        "id": uuid.uuid4().hex,
        "ref": ref,
        "rounds": rounds,
        "more_rounds": more_rounds,
        "extended": run.extended,
        "duet_cpus": [list(c) for c in cpus] if cpus else None,
        "order_seed": seed,
        "timings_together": run.together,
        "timings_one_by_one": run.one_by_one,
    }
    meta = sidecar(sweep, started, head.slots[0], None)
    meta.update(
        worker_cpus=sorted({c for w in head.slots for c in w.cpus}) or "not pinned",
        finished_at=utc_now(),
        interrupted=False,
    )
    _write(
        base_output, run.base_rows, {**meta, "paired": {**pairing, "side": "base", "commit": sha}}
    )
    _write(
        output,
        run.head_rows,
        {**meta, "paired": {**pairing, "side": "head", "commit": "working tree"}},
    )
    comparison = compare_paired(
        read_rows(base_output),
        read_rows(output),
        thresholds,
        base_meta=read_meta(base_output),
        head_meta=read_meta(output),
        base_name=f"{ref} ({base_output})",
        head_name=f"working tree ({output})",
    )
    _explain_unavailable(comparison, run, ref)
    return RefGate(
        comparison,
        ref,
        sha,
        output,
        base_output,
        rounds,
        cpus,
        wall_s,
        run.unavailable,
        run.together,
        run.one_by_one,
        more_rounds,
        run.extended,
    )


def _explain_unavailable(comparison: Comparison, run: PairedRun, ref: str) -> None:
    """A cell that is ``new`` because the base could not run its method says why."""
    if not run.unavailable:
        return
    cells = comparison.cells
    for i, cell in cells.iterrows():
        why = run.unavailable.get(str(cell["method"]))
        if why and cell["verdict"] == Verdict.new.value:
            cells.at[i, "reason"] = f"cannot run at {ref}: {why}"

"""The CI gate: run a sweep, compare with a baseline, re-measure what looks bad, fail on what stays.

A single pass of a whole sweep makes hundreds of comparisons at once, and noise between processes
now and then shifts one cell by 8-12 %. So a flagged cell (regressed, memory regressed, or
disturbed) is re-measured in a *fresh process*, after a pause, up to ``confirm_rounds`` times, and
the gate fails only when ``readings`` consecutive measurements of a cell all say it regressed.
A cell that re-measures as unchanged is cleared; one that never settles is reported as
inconclusive and does not fail the gate. Cells that broke (``ok`` -> ``wrong``/``error``) fail
at once: a wrong answer is not noise.

Each pass is :func:`convbench.runner.run_sweep`, which measures every cell in fresh worker
processes (see :func:`measure_pass`); tests inject their own ``measure`` callable.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .comparison import (
    Comparison,
    compare_frames,
    geometric_mean,
    read_baseline,
    sort_cells,
    usual_wall_cpu,
)
from .errors import ResultsError
from .render import to_markdown
from .results import read_meta, read_rows, row_key
from .rules import CONFIRM_ROUNDS, CONFIRM_WAIT_S, READINGS, Thresholds, Verdict

#: ``measure(sweep_path, output_csv, only)`` writes a results CSV; ``only=None`` means every cell.
Measure = Callable[[Path, Path, "set[tuple] | None"], None]

__all__ = ["CONFIRM_WAIT_S", "GateResult", "confirm_path", "measure_pass", "run_gate"]


@dataclass
class GateResult:
    """What the gate saw: the first comparison, the confirmation rounds and the final verdicts.

    ``final.cells`` carries a ``confirmation`` column: ``confirmed``, ``cleared``, ``unresolved``,
    ``not re-measured`` (a re-measure pass did not produce the cell: it fails the gate, which
    could not finish its job) or ``""`` for cells that were never flagged.
    """

    first: Comparison
    final: Comparison
    rounds: list[dict] = field(default_factory=list)  # {"round", "csv", "measured", "wait_s"}
    confirmed: set[tuple] = field(default_factory=set)
    cleared: set[tuple] = field(default_factory=set)
    unresolved: set[tuple] = field(default_factory=set)
    incomplete: dict[tuple, int] = field(default_factory=dict)  # key -> round that lacked it

    @property
    def failed(self) -> bool:
        return self.final.failed


def confirm_path(output: Path, round_no: int) -> Path:
    """``results/ci.csv`` -> ``results/ci.confirm1.csv``."""
    return output.with_name(f"{output.stem}.confirm{round_no}{output.suffix}")


def run_gate(
    sweep_path: str | os.PathLike,
    baseline: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike,
    thresholds: Thresholds | None = None,
    *,
    confirm_rounds: int = CONFIRM_ROUNDS,
    readings: int = READINGS,
    confirm_wait_s: float = CONFIRM_WAIT_S,
    measure: Measure | None = None,
    sleep: Callable[[float], None] | None = None,
) -> GateResult:
    """Run ``sweep_path`` into ``output``, compare with ``baseline``, confirm flagged cells.

    Parameters
    ----------
    sweep_path
        The sweep config (YAML); checked before anything runs.
    baseline
        Results CSV(s) of the same sweep made earlier on the same machine: one run, or several
        runs in separate processes (recommended: :func:`convbench.compare.read_baseline`).
    output
        Where the first pass goes; confirmation rounds go beside it (:func:`confirm_path`).
    thresholds
        The verdict rule (:class:`convbench.compare.Thresholds`).
    confirm_rounds
        At most this many re-measurements of the flagged cells (0 = trust the first pass).
    readings
        A regression is confirmed after this many consecutive clean readings (the first pass
        included) say so; a clean reading that does not clears the cell as noise; a disturbed or
        inconclusive reading in between starts the count again.
    confirm_wait_s
        Pause before each confirmation round. Slow periods of a shared machine last tens of
        seconds to minutes and slow one cell in consecutive processes alike, so readings taken
        back to back are not independent; spaced out, a slow period rarely covers all of them.
    measure
        How a pass is run; default :func:`measure_pass`.
    sleep
        How to pause; default :func:`time.sleep`.

    Cost: one full pass of the sweep plus, per round, ``confirm_wait_s`` and a pass over the
    flagged cells only (nothing when no cell is flagged).

    Raises
    ------
    ResultsError, ConfigError
        Bad baseline, bad config, or nothing in common (exit 2 at the CLI).
    KeyboardInterrupt
        A pass was interrupted: the gate has no verdict (exit 130 at the CLI).
    """
    if confirm_rounds < 0:
        raise ValueError(f"confirm_rounds must be >= 0, got {confirm_rounds}")
    if readings < 1:
        raise ValueError(f"readings must be >= 1, got {readings}")
    if confirm_wait_s < 0:
        raise ValueError(f"confirm_wait_s must be >= 0, got {confirm_wait_s}")
    measure = measure or measure_pass
    sleep = sleep or time.sleep
    thresholds = thresholds or Thresholds()
    sweep_path, output = Path(sweep_path), Path(output)
    _check_not_baseline(output, baseline, confirm_rounds)
    # Read the baseline first: fail on a bad one before spending minutes measuring.
    base, base_meta, base_name = read_baseline(baseline, thresholds.time)
    _check_config(sweep_path)

    measure(sweep_path, output, None)
    current = read_rows(output)
    typical = (usual_wall_cpu(base), usual_wall_cpu(current))
    first = compare_frames(
        base,
        current,
        thresholds,
        base_meta=base_meta,
        current_meta=read_meta(output),
        base_name=base_name,
        current_name=str(output),
        typical_wall_cpu=typical,
    )
    latest = {row_key(c): c for c in first.cells.to_dict("records")}
    pending = first.flagged_keys()
    # Consecutive clean (settled) readings that say "regressed", the first pass included.
    streak = {k: int(latest[k]["failed"] and _settled(latest[k])) for k in pending}
    result = GateResult(first=first, final=first)
    for round_no in range(1, confirm_rounds + 1):
        if not pending:
            break
        path = confirm_path(output, round_no)
        sleep(confirm_wait_s)
        measure(sweep_path, path, set(pending))
        again = _compare_subset(base, read_rows(path), pending, thresholds, typical)
        result.rounds.append(
            {
                "round": round_no,
                "csv": str(path),
                "measured": len(pending),
                "wait_s": confirm_wait_s,
            }
        )
        for key in sorted(pending, key=str):
            now = again.get(key)
            if now is None:  # the pass did not produce the cell: it cannot be cleared
                result.incomplete[key] = round_no
                pending.discard(key)
                continue
            latest[key] = now
            if not _settled(now):
                streak[key] = 0  # disturbed or inconclusive: start counting again
            elif not now["failed"]:
                result.cleared.add(key)
                pending.discard(key)
            else:
                streak[key] += 1
                if streak[key] >= readings:
                    result.confirmed.add(key)
                    pending.discard(key)
    result.unresolved = set(pending) if result.rounds else set()
    if not result.rounds:
        # No confirmation asked for (or nothing flagged): the first pass is the verdict.
        result.confirmed = {
            k for k, c in latest.items() if c["failed"] and c["verdict"] != "broken"
        }
    result.final = _final(first, latest, result)
    return result


def _check_not_baseline(
    output: Path,
    baseline: str | os.PathLike | Sequence[str | os.PathLike],
    confirm_rounds: int,
) -> None:
    """The gate replaces its outputs on every run: never let one of them be a baseline (#17)."""
    paths = [baseline] if isinstance(baseline, (str, os.PathLike)) else list(baseline)
    rounds = [confirm_path(output, i) for i in range(1, confirm_rounds + 1)]
    written = {p.resolve() for p in (output, *rounds)}
    for b in paths:
        if Path(b).resolve() in written:
            raise ResultsError(
                f"{b}: this --baseline would be overwritten by the gate's run; "
                "write the run elsewhere (-o)"
            )


def _settled(cell: dict) -> bool:
    return cell["verdict"] != Verdict.inconclusive.value and not cell["disturbed"]


def _check_config(sweep_path: Path) -> None:
    from .config import load_sweep  # the runner's module; imported here to keep compare light

    load_sweep(sweep_path)


def _compare_subset(
    base: pd.DataFrame,
    current: pd.DataFrame,
    keys: set[tuple],
    thresholds: Thresholds,
    typical: tuple[float, float],
) -> dict[tuple, dict]:
    in_keys = [row_key(r) in keys for r in base.to_dict("records")]
    try:
        comparison = compare_frames(base[in_keys], current, thresholds, typical_wall_cpu=typical)
    except ResultsError:
        return {}  # the re-measure produced none of the cells: they stay pending
    return {row_key(c): c for c in comparison.cells.to_dict("records") if row_key(c) in keys}


def _final(first: Comparison, latest: dict[tuple, dict], result: GateResult) -> Comparison:
    rows = []
    for cell in first.cells.to_dict("records"):
        key = row_key(cell)
        cell = dict(latest[key])
        cell["confirmation"] = ""
        if key in result.confirmed:
            cell["confirmation"] = "confirmed"
        elif key in result.cleared:
            cell["confirmation"] = "cleared"
        elif key in result.incomplete:
            cell["confirmation"] = "not re-measured"
            cell["reason"] = (
                f"re-measure round {result.incomplete[key]} produced no reading of this "
                f"flagged cell, so the gate cannot clear it; {cell['reason']}"
            )
        elif key in result.unresolved:
            cell["confirmation"] = "unresolved"
            cell["verdict"] = Verdict.inconclusive.value
            cell["reason"] = (
                f"did not settle in {len(result.rounds)} re-measurement(s); {cell['reason']}"
            )
        # Only a broken cell, a regression that reproduced, or a flagged cell the gate could not
        # re-measure fails the gate.
        cell["failed"] = (
            cell["verdict"] == Verdict.broken.value
            or key in result.confirmed
            or key in result.incomplete
        )
        rows.append(cell)
    cells = sort_cells(
        pd.DataFrame.from_records(rows, columns=[*first.cells.columns, "confirmation"])
    )
    return Comparison(
        cells=cells,
        thresholds=first.thresholds,
        geomean=geometric_mean(cells),
        fastest_changes=first.fastest_changes,
        environment=first.environment,
    )


def confirmation_lines(result: GateResult) -> list[str]:
    """Plain-text lines saying what was re-measured and what came of it."""
    if not result.rounds:
        flagged = len(result.first.flagged_keys())
        return (
            [f"No cell needed re-measuring ({flagged} flagged, confirmation off)."]
            if flagged
            else ["No cell needed re-measuring."]
        )
    lines = [
        f"Round {r['round']}: re-measured {r['measured']} flagged cell(s) in a fresh process "
        f"after a {r['wait_s']:g} s pause -> {r['csv']}"
        for r in result.rounds
    ]
    lines.append(
        f"{len(result.confirmed)} regression(s) confirmed, {len(result.cleared)} cleared as noise, "
        f"{len(result.unresolved)} unresolved (reported, not failed)."
    )
    if result.incomplete:
        lines.append(
            f"{len(result.incomplete)} flagged cell(s) not re-measured (a pass came back without "
            "them): failed, since the gate could not clear them."
        )
    return lines


def gate_markdown(result: GateResult, *, show_all: bool = False) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``: the final verdicts and the confirmation story."""
    text = to_markdown(result.final, title="convbench gate", show_all=show_all)
    return (
        text
        + "\n### Confirmation\n\n"
        + "\n".join(f"- {s}" for s in confirmation_lines(result))
        + "\n"
    )


# --------------------------------------------------------------------------- the measuring pass


def measure_pass(sweep_path: Path, output: Path, only: set[tuple] | None) -> None:
    """Run the sweep (or only the ``only`` cells) into ``output``.

    Every cell is measured in fresh worker processes (:mod:`convbench.measure.worker`), so a
    re-measured cell draws fresh between-process noise, which is what a confirmation needs.
    """
    import sys

    from .config import load_sweep
    from .runner import run_sweep

    # The gate's outputs are re-measured on every gate by design (the parent refuses a baseline).
    summary = run_sweep(
        load_sweep(sweep_path),
        output,
        only=only,
        progress=sys.stderr.isatty(),
        overwrite=True,
    )
    if summary.interrupted:
        raise KeyboardInterrupt

"""What ``convbench run`` and :func:`convbench.bench` both do: a config in, a measured CSV out.

One function, :func:`run_config`: build the sweep (a YAML path or a dict, plus overrides of
single keys, checked by :mod:`convbench.config`), apply the run's options, pick the output and
the shard, and hand over to :func:`convbench.runner.run_sweep`. The CLI only parses flags and
prints the summary; the notebook interface only picks a temporary output and reads the rows.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import sweep_from, with_methods
from .errors import ConfigError
from .runner import RunSummary, run_sweep

#: Where a run writes when no output is given: ``results/<config name>.csv``.
RESULTS_DIR = Path("results")


def run_config(
    config: str | os.PathLike | Mapping[str, Any],
    output: str | os.PathLike | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    methods: Sequence[str] | None = None,
    processes: int | None = None,
    shard: str | None = None,
    costs: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    wait: bool = True,
    shared_machine: bool = False,
    progress: bool = False,
) -> RunSummary:
    """Measure the sweep ``config`` describes into ``output``; return the run's summary.

    Parameters
    ----------
    config
        A sweep config: the path of a YAML file, or a dict of the same keys.
    output
        The results CSV (its sidecar goes beside it). Default ``results/<config name>.csv``,
        or ``results/<config name>.shard-K-of-N.csv`` with ``shard``.
    overrides
        Top-level keys replacing the config's (checked like the file's own keys).
    methods
        Restrict the sweep to (or extend it with) these names or specs, keeping the config's
        hash (``convbench run --methods``).
    processes
        Fresh worker processes per cell instead of the config's ``processes``.
    shard, costs
        Measure only shard ``K/N`` of the sweep, balanced on the timings in ``costs``.
    resume, overwrite, wait, shared_machine, progress
        As :func:`convbench.runner.run_sweep`.

    Raises
    ------
    ConfigError
        A bad config or option (the message names the key or option).
    ResultsError
        An output that cannot be written, or has rows without ``resume``/``overwrite``.
    """
    if resume and overwrite:
        raise ConfigError("resume and overwrite: choose one (continue, or replace)")
    sweep = sweep_from(config, overrides)
    if processes is not None:
        if processes < 1:
            raise ConfigError(f"--processes: must be >= 1, got {processes}")
        sweep = dataclasses.replace(sweep, processes=processes)
    guard: dict[str, Any] = {
        "resume": resume,
        "overwrite": overwrite,
        "wait": wait,
        "shared_machine": shared_machine,
        "progress": progress,
    }
    if shard is None:
        if costs is not None:
            raise ConfigError("--costs: only with --shard K/N")
        out = Path(output) if output is not None else RESULTS_DIR / f"{sweep.name}.csv"
        return run_sweep(sweep, out, methods=methods or None, **guard)

    from .shard import check_resume, shard_output, shard_run

    part = shard_run(with_methods(sweep, methods) if methods else sweep, shard, costs_csv=costs)
    if output is not None:
        out = Path(output)
    else:
        out = shard_output(RESULTS_DIR, sweep.name, part.index, part.count)
    if resume:
        check_resume(out, part)
    return run_sweep(part.sweep, out, only=part.only, extra_meta=part.meta, **guard)

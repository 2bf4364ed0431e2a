"""``convbench run``: measure every method of a sweep config on every case."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from ._app import EXIT_OK, command

INTERRUPTED = 130  # the shell's code for Ctrl-C


@command("run")
def run(
    config: Annotated[Path, typer.Argument(help="Sweep config (YAML).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Results CSV [default: results/<config name>.csv]."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run into the same CSV.")
    ] = False,
    methods: Annotated[
        str | None,
        typer.Option(
            "--methods", help="Comma-separated methods instead of the config's (names or mod:func)."
        ),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar [default: on a terminal]."),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option("--shard", help="Measure only shard K of N (K/N); see `convbench plan`."),
    ] = None,
    costs: Annotated[
        Path | None,
        typer.Option("--costs", help="With --shard: previous results CSV predicting cell times."),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            help="Fresh worker processes per (case, method) [default: the config's, else 3].",
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an output that has rows (kept as .bak until the first new row).",
        ),
    ] = False,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait", help="Exit 2 instead of waiting when another convbench is measuring here."
        ),
    ] = False,
    shared_machine: Annotated[
        bool,
        typer.Option(
            "--shared-machine",
            help="Measure even while another convbench measures here (rows and sidecar say so).",
        ),
    ] = False,
) -> None:
    """Measure a sweep: verify, time and measure memory of each method on each case -> CSV."""
    from ..config import load_sweep, with_methods
    from ..runner import run_sweep

    if resume and overwrite:
        raise ConfigError("--resume and --overwrite: choose one (continue, or replace)")
    sweep = load_sweep(config)
    if processes is not None:
        if processes < 1:
            raise ConfigError(f"--processes: must be >= 1, got {processes}")
        sweep = dataclasses.replace(sweep, processes=processes)
    guard = {"overwrite": overwrite, "wait": not no_wait, "shared_machine": shared_machine}
    out = output or Path("results") / f"{sweep.name}.csv"
    names = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    show = sys.stderr.isatty() if progress is None else progress
    if shard is not None:
        from ..shard import check_resume, shard_output, shard_run

        part = shard_run(with_methods(sweep, names) if names else sweep, shard, costs_csv=costs)
        out = output or shard_output(Path("results"), sweep.name, part.index, part.count)
        if resume:
            check_resume(out, part)
        summary = run_sweep(
            part.sweep,
            out,
            resume=resume,
            only=part.only,
            extra_meta=part.meta,
            progress=show,
            **guard,
        )
    else:
        if costs is not None:
            raise ConfigError("--costs: only with --shard K/N")
        summary = run_sweep(sweep, out, resume=resume, methods=names, progress=show, **guard)
    for line in summary.lines():
        typer.echo(line)
    raise typer.Exit(INTERRUPTED if summary.interrupted else EXIT_OK)

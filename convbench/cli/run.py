"""``convbench run``: measure every method of a sweep config on every case."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

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
    from ..launch import run_config

    summary = run_config(
        config,
        output,
        methods=[m.strip() for m in methods.split(",") if m.strip()] if methods else None,
        processes=processes,
        shard=shard,
        costs=costs,
        resume=resume,
        overwrite=overwrite,
        wait=not no_wait,
        shared_machine=shared_machine,
        progress=sys.stderr.isatty() if progress is None else progress,
    )
    for line in summary.lines():
        typer.echo(line)
    raise typer.Exit(INTERRUPTED if summary.interrupted else EXIT_OK)

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
) -> None:
    """Measure a sweep: verify, time and measure memory of each method on each case -> CSV."""
    from ..config import load_sweep
    from ..runner import run_sweep

    sweep = load_sweep(config)
    out = output or Path("results") / f"{sweep.name}.csv"
    names = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    show = sys.stderr.isatty() if progress is None else progress
    summary = run_sweep(sweep, out, resume=resume, methods=names, progress=show)
    for line in summary.lines():
        typer.echo(line)
    raise typer.Exit(INTERRUPTED if summary.interrupted else EXIT_OK)

"""``convbench plan`` / ``merge`` / ``machines``: one sweep over several jobs or machines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import EXIT_FAIL, EXIT_OK, command


@command("plan")
def plan(
    config: Annotated[Path, typer.Argument(help="Sweep config (YAML).")],
    shards: Annotated[int, typer.Option("--shards", "-n", help="Number of shards N.", min=1)],
    costs: Annotated[
        Path | None,
        typer.Option("--costs", help="Previous results CSV whose timings predict each cell."),
    ] = None,
    methods: Annotated[
        str | None,
        typer.Option("--methods", help="Comma-separated methods, as given to `convbench run`."),
    ] = None,
    items: Annotated[
        bool, typer.Option("--items/--summary", help="List each shard's cells, or totals only.")
    ] = True,
) -> None:
    """Show how `convbench run --shard K/N` splits a sweep: cells and predicted time per shard."""
    from ..config import load_sweep, with_methods
    from ..shard import load_plan

    sweep = load_sweep(config)
    if methods:
        sweep = with_methods(sweep, [m.strip() for m in methods.split(",") if m.strip()])
    for line in load_plan(sweep, shards, costs).lines(items=items):
        typer.echo(line)


@command("merge")
def merge(
    output: Annotated[Path, typer.Argument(help="Merged results CSV to write.")],
    shards: Annotated[list[Path], typer.Argument(help="Shard CSVs (each with its sidecar).")],
    allow_machines: Annotated[
        bool,
        typer.Option("--allow-machines", help="Merge shards measured on different CPU models."),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace an OUTPUT with measured rows (a previous merge always is)."
        ),
    ] = False,
) -> None:
    """Merge shard CSVs into the file one unsharded run would have written (+ sidecar).

    Exit 0 when every cell is there exactly once, 1 when cells are missing or duplicated (the
    merged file is still written), 2 when the shards do not belong together.
    """
    from ..merge import merge_shards

    report = merge_shards(output, shards, allow_machines=allow_machines, overwrite=overwrite)
    for line in report.lines():
        typer.echo(line)
    raise typer.Exit(EXIT_OK if report.complete else EXIT_FAIL)


@command("machines")
def machines(
    csvs: Annotated[list[Path], typer.Argument(help="Results CSVs, one per machine.")],
    differ_only: Annotated[
        bool, typer.Option("--differ-only", help="Only the cells where the machines disagree.")
    ] = False,
) -> None:
    """Fastest method per cell on each machine (sidecar CPU model), and where they differ."""
    from ..machines import MACHINE, combine, comparison_lines, fastest_by_machine

    df = combine(csvs)
    names = list(dict.fromkeys(df[MACHINE]))
    for line in comparison_lines(fastest_by_machine(df), names, differ_only):
        typer.echo(line)

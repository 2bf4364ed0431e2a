"""``convbench report RESULTS.csv...``: write the markdown report of results CSVs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import command


@command("report")
def report(
    results: Annotated[list[Path], typer.Argument(help="Results CSV(s) from `convbench run`.")],
    *,
    out: Annotated[Path, typer.Option("--output", "-o", help="Markdown file to write.")] = Path(
        "results/REPORT.md"
    ),
    memory_budget: Annotated[
        str, typer.Option(help="Flag methods whose peak memory exceeds this (e.g. 512M, 1G).")
    ] = "1G",
) -> None:
    """Fastest-method tables, crossovers, slowdowns, memory and the study's claims, in markdown."""
    from .. import report as reporting  # pulls in matplotlib via plot: only when reporting

    text = reporting.build_report(results, out, memory_budget=reporting.parse_bytes(memory_budget))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    typer.echo(str(out))

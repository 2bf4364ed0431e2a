"""``convbench plot RESULTS.csv...``: draw the figures of results CSVs and print their paths."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ._app import command


class MetricChoice(str, Enum):
    time = "time"
    memory = "memory"
    gflops = "gflops"


class FormatChoice(str, Enum):
    png = "png"
    svg = "svg"
    pdf = "pdf"


def default_out_dir(csv_path: Path) -> Path:
    """``results/x.csv`` -> ``results/x/`` (beside the CSV)."""
    return csv_path.with_suffix("")


@command("plot")
def plot(
    results: Annotated[list[Path], typer.Argument(help="Results CSV(s) from `convbench run`.")],
    *,
    metric: Annotated[
        MetricChoice, typer.Option(help="time (median), memory (peak bytes) or gflops.")
    ] = MetricChoice.time,
    methods: Annotated[
        list[str] | None,
        typer.Option("--methods", "-m", help="Only these methods (repeat or comma-separate)."),
    ] = None,
    fmt: Annotated[FormatChoice, typer.Option("--format", help="Image format.")] = FormatChoice.png,
    out: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output folder (default: results/<csv-stem>/)."),
    ] = None,
    per: Annotated[int, typer.Option(help="Show the time of this many calls (the study: 10).")] = 1,
) -> None:
    """Draw per-method heatmaps, the fastest-method map and the winner's margin, per facet."""
    from .. import plot as plotting  # matplotlib is slow to import: only when plotting

    names = [n.strip() for item in methods or [] for n in item.split(",") if n.strip()] or None
    for csv_path in results:
        figures = plotting.figures(csv_path, metric.value, methods=names, per=per)
        # Several CSVs with one -o: a subfolder each, so figures of different machines never clash.
        target = default_out_dir(csv_path) if out is None else out
        if out is not None and len(results) > 1:
            target = out / csv_path.stem
        target.mkdir(parents=True, exist_ok=True)
        for stem, fig in figures:
            path = target / f"{stem}.{fmt.value}"
            fig.savefig(path, dpi=110)
            typer.echo(str(path))

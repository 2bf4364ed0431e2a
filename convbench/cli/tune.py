"""`convbench tune` (calibrate the `auto` table) and `convbench advise` (what to use for a case)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import tuning
from ..errors import ConfigError
from ._app import command


@command("tune")
def tune(
    config: Annotated[
        Path | None,
        typer.Argument(help="Sweep to measure (default: the shipped grid); not with --from."),
    ] = None,
    from_csv: Annotated[
        list[Path] | None,
        typer.Option(
            "--from",
            help="Build the table from existing results CSVs instead (one per --from; a later "
            "CSV's (cell, method) replaces an earlier one's).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to write the table (default: user cache)."),
    ] = None,
) -> None:
    """Measure this machine (or read results CSVs) and store the decision table `auto` uses."""
    if from_csv and config is not None:
        # `--from a.csv b.csv` parses b.csv as the config: reading a.csv alone would be silent.
        raise ConfigError(
            f"tune: '{config}' is not read with --from (which measures nothing); "
            "give every CSV its own --from: --from a.csv --from b.csv"
        )
    if from_csv:
        path, summary = tuning.tune_from_csvs(from_csv, output)
    else:
        path, summary = tuning.tune_by_measuring(config or tuning.DEFAULT_TUNE_CONFIG, output)
    typer.echo(summary)
    typer.echo(f"table written to {path}")


@command("advise")
def advise(
    input_size: Annotated[str, typer.Option(help="n or h,w")],
    kernel_size: Annotated[str, typer.Option(help="f or kh,kw")],
    depth: Annotated[int, typer.Option(help="0 = plain 2D, C >= 1 = (n, n, C) input")] = 0,
    stride: Annotated[str, typer.Option(help="s or sh,sw")] = "1",
    padding: Annotated[str, typer.Option(help="p or ph,pw")] = "0",
    dtype: Annotated[str, typer.Option(help="int64, float32 or float64")] = "float64",
    memory_limit: Annotated[
        str | None, typer.Option(help="Budget, e.g. 512MB or 2GiB (default: half of free memory)")
    ] = None,
    table: Annotated[
        Path | None, typer.Option(help="Decision table to use (default: tuned, else shipped)")
    ] = None,
) -> None:
    """Print the recommended method for a case (expected time and memory) and the runner-up."""
    case = tuning.parse_case(input_size, kernel_size, depth, stride, padding, dtype)
    typer.echo(tuning.advice_text(case, memory_limit, table))

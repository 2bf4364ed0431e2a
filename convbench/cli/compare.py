"""``convbench compare`` and ``convbench gate``: thin wrappers over :mod:`convbench.compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..compare import (
    ENVIRONMENT_ADVICE,
    NOISE_POWER,
    TABLE_HEADER,
    Comparison,
    Stat,
    Thresholds,
    TimeBasis,
    compare_files,
    headline,
    table_rows,
    to_markdown,
)
from ..errors import ConfigError
from ..gate import CONFIRM_WAIT_S, confirmation_lines, gate_markdown, run_gate
from ..locks import measuring_lock
from ._app import EXIT_FAIL, EXIT_OK, command

_STYLE = {
    "broken": "bold red",
    "regressed": "bold red",
    "inconclusive": "yellow",
    "status-changed": "yellow",
    "missing": "magenta",
    "new": "cyan",
    "improved": "green",
}

Factor = Annotated[
    float,
    typer.Option("--factor", help="Time ratio beyond which a cell changed (both median and min)."),
]
StatOpt = Annotated[
    Stat,
    typer.Option(
        "--stat",
        help="min-median: medians AND minimums beyond the factor; median; "
        "mannwhitney: factor AND Mann-Whitney p < --alpha (asv-style).",
    ),
]
TimeOpt = Annotated[
    TimeBasis,
    typer.Option("--time", help="Compare CPU time (robust on a shared machine) or wall time."),
]
MemoryFactor = Annotated[
    float, typer.Option("--memory-factor", help="Peak-memory ratio beyond which it regressed.")
]
Alpha = Annotated[float, typer.Option("--alpha", help="Significance level for --stat mannwhitney.")]
MinSamples = Annotated[int, typer.Option("--min-samples", help="Fewer samples is inconclusive.")]
MaxSpread = Annotated[
    float, typer.Option("--max-spread", help="IQR/median above this is inconclusive (too noisy).")
]
NoisePower = Annotated[
    float,
    typer.Option(
        "--noise-power",
        help="With several baseline runs, a cell must also move beyond (slowest/fastest run, "
        "trimmed) ** this (0: off).",
    ),
]
Markdown = Annotated[
    Path | None,
    typer.Option("--markdown", help="Also write the report as markdown (e.g. a CI job summary)."),
]
ShowAll = Annotated[bool, typer.Option("--all", help="List unchanged cells too.")]


def thresholds_from(
    factor: float,
    stat: Stat,
    time: TimeBasis,
    memory_factor: float,
    alpha: float,
    min_samples: int,
    max_spread: float,
    noise_power: float,
) -> Thresholds:
    """Build the rule from options; a bad value is a :class:`ConfigError` (exit 2)."""
    try:
        return Thresholds(
            factor=factor,
            stat=stat,
            time=time,
            memory_factor=memory_factor,
            alpha=alpha,
            min_samples=min_samples,
            max_spread=max_spread,
            noise_power=noise_power,
        )
    except ValueError as e:
        raise ConfigError(f"bad option: {e}") from None


def print_comparison(
    comparison: Comparison, *, show_all: bool = False, console: Console | None = None
) -> None:
    """The verdict table (worst first), the environment warning and the fastest-method changes."""
    console = console or Console(width=160)
    if comparison.environment:
        console.print(f"[bold yellow]WARNING: the environments differ.[/] {ENVIRONMENT_ADVICE}")
        for key, before, after in comparison.environment:
            console.print(
                f"  [yellow]{key}[/]: {before}  ->  {after}", markup=True, highlight=False
            )
    rows = table_rows(comparison, show_all=show_all)
    if rows:
        table = Table(*TABLE_HEADER, title="convbench compare", title_justify="left")
        for row in rows:
            table.add_row(*row, style=_STYLE.get(row[0], ""))
        console.print(table)
    if len(comparison.fastest_changes):
        console.print("[bold]Fastest method changed:[/]")
        for r in comparison.fastest_changes.to_dict("records"):
            console.print(f"  {r['case']}: {r['base_fastest']} -> {r['fastest']}", highlight=False)
    style = "bold red" if comparison.failed else "bold green"
    console.print(f"[{style}]{headline(comparison)}[/]", highlight=False)


@command("compare")
def compare_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="CSV",
            help="BASELINE.csv [MORE_BASELINE_RUNS.csv ...] CURRENT.csv: the last file is the "
            "current run; several baseline runs (each its own process) are combined as in `gate`.",
        ),
    ],
    factor: Factor = 1.10,
    stat: StatOpt = Stat.min_median,
    time: TimeOpt = TimeBasis.cpu,
    memory_factor: MemoryFactor = 1.05,
    alpha: Alpha = 0.002,
    min_samples: MinSamples = 5,
    max_spread: MaxSpread = 0.25,
    noise_power: NoisePower = NOISE_POWER,
    markdown: Markdown = None,
    show_all: ShowAll = False,
) -> None:
    """Compare a baseline and a current results CSV cell by cell. Exit 1 on a regression, 2 on
    bad input."""
    if len(files) < 2:
        raise ConfigError("compare needs a baseline CSV and a current CSV (got one file)")
    *baseline, current = files
    rule = thresholds_from(
        factor, stat, time, memory_factor, alpha, min_samples, max_spread, noise_power
    )
    comparison = compare_files(baseline, current, rule)
    print_comparison(comparison, show_all=show_all)
    if markdown is not None:
        markdown.write_text(to_markdown(comparison, show_all=show_all))
    raise typer.Exit(EXIT_FAIL if comparison.failed else EXIT_OK)


@command("gate")
def gate_command(
    sweep: Annotated[Path, typer.Argument(help="Sweep config (YAML), e.g. configs/ci.yaml.")],
    baseline: Annotated[
        list[Path],
        typer.Option(
            "--baseline",
            help="Baseline results CSV of the same sweep; repeat it for several runs (each its "
            "own process): a cell must then be slower than the slowest of them.",
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where this run goes [default: results/<config>.csv]."),
    ] = None,
    confirm_rounds: Annotated[
        int,
        typer.Option("--confirm", help="Re-measure flagged cells up to this many times (0: off)."),
    ] = 2,
    readings: Annotated[
        int,
        typer.Option(
            "--readings",
            min=1,
            help="Confirm a regression after this many consecutive regressed readings "
            "(first pass included).",
        ),
    ] = 3,
    confirm_wait: Annotated[
        float,
        typer.Option(
            "--confirm-wait",
            help="Seconds to pause before each re-measurement, so that one slow period of the "
            "machine does not cover every reading.",
        ),
    ] = CONFIRM_WAIT_S,
    factor: Factor = 1.10,
    stat: StatOpt = Stat.min_median,
    time: TimeOpt = TimeBasis.cpu,
    memory_factor: MemoryFactor = 1.05,
    alpha: Alpha = 0.002,
    min_samples: MinSamples = 5,
    max_spread: MaxSpread = 0.25,
    noise_power: NoisePower = NOISE_POWER,
    markdown: Markdown = None,
    show_all: ShowAll = False,
) -> None:
    """Run SWEEP, compare with --baseline, re-measure flagged cells, fail on what reproduces.

    The one command a CI job calls. Exit 1 on a confirmed regression (or a method that now gives
    wrong results or errors), 0 otherwise, 2 on bad input.
    """
    rule = thresholds_from(
        factor, stat, time, memory_factor, alpha, min_samples, max_spread, noise_power
    )
    if confirm_rounds < 0:
        raise ConfigError(f"bad option: --confirm must be >= 0, got {confirm_rounds}")
    if confirm_wait < 0:
        raise ConfigError(f"bad option: --confirm-wait must be >= 0, got {confirm_wait}")
    output = output or Path("results") / f"{sweep.stem}.csv"
    # Its first pass and confirmation rounds (subprocesses) are one measurement of the machine.
    with measuring_lock():
        result = run_gate(
            sweep,
            baseline,
            output,
            rule,
            confirm_rounds=confirm_rounds,
            readings=readings,
            confirm_wait_s=confirm_wait,
        )
    console = Console(width=160)
    print_comparison(result.final, show_all=show_all, console=console)
    for line in confirmation_lines(result):
        console.print(line, highlight=False)
    if markdown is not None:
        markdown.write_text(gate_markdown(result, show_all=show_all))
    raise typer.Exit(EXIT_FAIL if result.failed else EXIT_OK)

"""``convbench compare`` and ``convbench gate``: thin wrappers over the comparison and the gates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..comparison import Comparison, compare_files
from ..errors import ConfigError
from ..gate import confirmation_lines, gate_markdown, run_gate
from ..gate_ref import run_ref_gate
from ..locks import measuring_lock
from ..render import ENVIRONMENT_ADVICE, headline, table_header, table_rows, to_markdown
from ..rules import (
    CONFIDENCE,
    CONFIRM_ROUNDS,
    CONFIRM_WAIT_S,
    FACTOR,
    MEMORY_FACTOR,
    MORE_ROUNDS,
    NOISE_POWER,
    PAIRED_FACTOR,
    READINGS,
    ROUNDS,
    Stat,
    Thresholds,
    TimeBasis,
)
from ._app import EXIT_FAIL, EXIT_OK, command, fail

INTERRUPTED = 130  # the shell's code for Ctrl-C

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
    float | None,
    typer.Option(
        "--factor",
        help=f"Time ratio beyond which a cell changed (default: {FACTOR} against stored runs, "
        f"median and min both beyond; {PAIRED_FACTOR} for paired runs, the whole interval "
        "beyond).",
        show_default=False,
    ),
]
StatOpt = Annotated[
    Stat | None,
    typer.Option(
        "--stat",
        help="Stored runs: min-median (default): medians AND minimums beyond the factor; median; "
        "mannwhitney: factor AND Mann-Whitney p < --alpha (asv-style).",
        show_default=False,
    ),
]
TimeOpt = Annotated[
    TimeBasis | None,
    typer.Option(
        "--time",
        help="Compare CPU time (default; robust on a shared machine) or wall time.",
        show_default=False,
    ),
]
MemoryFactor = Annotated[
    float | None,
    typer.Option(
        "--memory-factor",
        help=f"Peak-memory ratio beyond which it regressed (default: {MEMORY_FACTOR}).",
    ),
]
Alpha = Annotated[
    float | None, typer.Option("--alpha", help="Significance level for --stat mannwhitney.")
]
MinSamples = Annotated[
    int | None, typer.Option("--min-samples", help="Stored runs: fewer samples is inconclusive.")
]
MaxSpread = Annotated[
    float | None,
    typer.Option("--max-spread", help="Stored runs: IQR/median above this is inconclusive."),
]
NoisePower = Annotated[
    float | None,
    typer.Option(
        "--noise-power",
        help="Stored runs: a cell must also move beyond its processes' (or baseline runs') "
        f"spread ** this (0: off; default: {NOISE_POWER}).",
    ),
]
Confidence = Annotated[
    float | None,
    typer.Option(
        "--confidence",
        help="Paired runs: confidence of the interval of the per-round ratios "
        f"(default: {CONFIDENCE}).",
    ),
]
Markdown = Annotated[
    Path | None,
    typer.Option("--markdown", help="Also write the report as markdown (e.g. a CI job summary)."),
]
ShowAll = Annotated[bool, typer.Option("--all", help="List unchanged cells too.")]


def thresholds_from(*, paired: bool, **options: object) -> Thresholds:
    """The rule from options (``None``: the mode's default); a bad value is a ConfigError."""
    try:
        return Thresholds.for_mode(paired=paired, **options)
    except ValueError as e:
        raise ConfigError(f"bad option: {e}") from None


def print_comparison(
    comparison: Comparison,
    *,
    show_all: bool = False,
    console: Console | None = None,
    title: str = "convbench compare",
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
        table = Table(*table_header(comparison), title=title, title_justify="left")
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
            "current run; several baseline runs (each its own process) are combined as in `gate`. "
            "The base and head CSVs of one `gate --base` are compared with the paired rule.",
        ),
    ],
    factor: Factor = None,
    stat: StatOpt = None,
    time: TimeOpt = None,
    memory_factor: MemoryFactor = None,
    alpha: Alpha = None,
    min_samples: MinSamples = None,
    max_spread: MaxSpread = None,
    noise_power: NoisePower = None,
    confidence: Confidence = None,
    markdown: Markdown = None,
    show_all: ShowAll = False,
) -> None:
    """Compare a baseline and a current results CSV cell by cell. Exit 1 on a regression, 2 on
    bad input."""
    if len(files) < 2:
        raise ConfigError("compare needs a baseline CSV and a current CSV (got one file)")
    *baseline, current = files
    options = dict(
        factor=factor,
        stat=stat,
        time=time,
        memory_factor=memory_factor,
        alpha=alpha,
        min_samples=min_samples,
        max_spread=max_spread,
        noise_power=noise_power,
        confidence=confidence,
    )
    comparison = compare_files(baseline, current, **options)
    print_comparison(comparison, show_all=show_all)
    if markdown is not None:
        markdown.write_text(to_markdown(comparison, show_all=show_all))
    raise typer.Exit(EXIT_FAIL if comparison.failed else EXIT_OK)


@command("gate")
def gate_command(
    sweep: Annotated[Path, typer.Argument(help="Sweep config (YAML), e.g. configs/ci.yaml.")],
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            metavar="REF",
            help="Measure this commit (any git commit-ish) and the working tree side by side, "
            "here and now, in paired rounds.",
        ),
    ] = None,
    baseline: Annotated[
        list[Path] | None,
        typer.Option(
            "--baseline",
            help="Instead of --base: stored results CSV(s) of the same sweep (repeat it for "
            "several runs, each its own process: a cell must be slower than the slowest).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Where this run goes (default: results/<config>.csv); with --base the base's "
            "rows go beside it, <stem>.base.csv.",
        ),
    ] = None,
    rounds: Annotated[
        int,
        typer.Option("--rounds", help="--base: paired rounds (a fresh worker per side each)."),
    ] = ROUNDS,
    more_rounds: Annotated[
        int,
        typer.Option(
            "--more-rounds",
            help="--base: more rounds for each cell whose median ratio moved beyond the factor "
            "(0: none).",
        ),
    ] = MORE_ROUNDS,
    duet: Annotated[
        bool | None,
        typer.Option(
            "--duet/--no-duet",
            help="--base: measure both sides at the same time on two CPUs (default: when the "
            "machine has them), or one after the other.",
            show_default=False,
        ),
    ] = None,
    src: Annotated[
        str | None,
        typer.Option(
            "--src",
            metavar="DIR",
            help="--base: the directory your packages are imported from (e.g. src), on both "
            "sides' path, each from its own tree.",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="--base: seed of the random order (default: drawn)."),
    ] = None,
    confirm_rounds: Annotated[
        int | None,
        typer.Option(
            "--confirm",
            help=f"--baseline: re-measure flagged cells up to this many times (0: off) "
            f"(default: {CONFIRM_ROUNDS}).",
        ),
    ] = None,
    readings: Annotated[
        int | None,
        typer.Option(
            "--readings",
            help="--baseline: confirm a regression after this many consecutive regressed clean "
            f"readings (first pass included; default: {READINGS}).",
        ),
    ] = None,
    confirm_wait: Annotated[
        float | None,
        typer.Option(
            "--confirm-wait",
            help="--baseline: seconds to pause before each re-measurement, so that one slow "
            f"period of the machine does not cover every reading (default: {CONFIRM_WAIT_S:g}).",
        ),
    ] = None,
    factor: Factor = None,
    stat: StatOpt = None,
    time: TimeOpt = None,
    memory_factor: MemoryFactor = None,
    alpha: Alpha = None,
    min_samples: MinSamples = None,
    max_spread: MaxSpread = None,
    noise_power: NoisePower = None,
    confidence: Confidence = None,
    markdown: Markdown = None,
    show_all: ShowAll = False,
) -> None:
    """Gate on regressions: exit 1 when a cell regressed (time or memory) or broke, 0 when not,
    2 on bad input.

    With --base REF, the base commit and the working tree are measured side by side on this
    machine. With --baseline CSV, the sweep is run and compared with stored runs, and flagged
    cells are re-measured until they reproduce or clear.
    """
    if (base is None) == (not baseline):
        raise ConfigError(
            "gate needs --base REF (measure that commit and the working tree here) or "
            "--baseline CSV (stored runs), not both"
        )
    output = output or Path("results") / f"{sweep.stem}.csv"
    stored_only = {"--confirm": confirm_rounds, "--readings": readings}
    stored_only.update({"--confirm-wait": confirm_wait, "--stat": stat, "--alpha": alpha})
    stored_only.update({"--min-samples": min_samples, "--max-spread": max_spread})
    stored_only["--noise-power"] = noise_power
    options = dict(factor=factor, time=time, memory_factor=memory_factor)
    console = Console(width=160)
    try:
        if base is not None:
            given = [name for name, value in stored_only.items() if value is not None]
            if given:
                raise ConfigError(f"bad option: {', '.join(given)} only apply to --baseline")
            rule = thresholds_from(paired=True, confidence=confidence, **options)
            with measuring_lock():
                gate = run_ref_gate(
                    sweep,
                    base,
                    output,
                    rule,
                    rounds=rounds,
                    more_rounds=more_rounds,
                    duet=duet,
                    src=src,
                    seed=seed,
                    progress=console.is_terminal,
                )
            print_comparison(
                gate.comparison, show_all=show_all, console=console, title="convbench gate"
            )
            lines = gate.lines()
            text = to_markdown(gate.comparison, title="convbench gate", show_all=show_all)
            failed = gate.failed
        else:
            if confidence is not None:
                raise ConfigError("bad option: --confidence only applies to --base")
            _check_stored_options(confirm_rounds, readings, confirm_wait)
            rule = thresholds_from(
                paired=False,
                stat=stat,
                alpha=alpha,
                min_samples=min_samples,
                max_spread=max_spread,
                noise_power=noise_power,
                **options,
            )
            # Its first pass and confirmation rounds (subprocesses) are one measurement.
            with measuring_lock():
                result = run_gate(
                    sweep,
                    baseline or [],
                    output,
                    rule,
                    confirm_rounds=CONFIRM_ROUNDS if confirm_rounds is None else confirm_rounds,
                    readings=READINGS if readings is None else readings,
                    confirm_wait_s=CONFIRM_WAIT_S if confirm_wait is None else confirm_wait,
                )
            print_comparison(
                result.final, show_all=show_all, console=console, title="convbench gate"
            )
            lines = confirmation_lines(result)
            text = gate_markdown(result, show_all=show_all)
            failed = result.failed
    except KeyboardInterrupt:
        raise fail("interrupted: the gate has no verdict", INTERRUPTED) from None
    for line in lines:
        console.print(line, highlight=False)
    if markdown is not None:
        if base is not None:
            text += "\n### Measurement\n\n" + "\n".join(f"- {s}" for s in lines) + "\n"
        markdown.write_text(text)
    raise typer.Exit(EXIT_FAIL if failed else EXIT_OK)


def _check_stored_options(
    confirm_rounds: int | None, readings: int | None, confirm_wait: float | None
) -> None:
    if confirm_rounds is not None and confirm_rounds < 0:
        raise ConfigError(f"bad option: --confirm must be >= 0, got {confirm_rounds}")
    if readings is not None and readings < 1:
        raise ConfigError(f"bad option: --readings must be >= 1, got {readings}")
    if confirm_wait is not None and confirm_wait < 0:
        raise ConfigError(f"bad option: --confirm-wait must be >= 0, got {confirm_wait}")

"""``convbench methods`` and ``convbench verify``: what the library has, and whether it is right."""

from __future__ import annotations

from typing import Annotated

import typer

from ._app import EXIT_FAIL, command

_COLUMNS = ("name", "family", "origin", "supports")


def _split_names(values: list[str] | None) -> list[str]:
    """``--methods a,b --methods c`` -> ["a", "b", "c"]."""
    return [n.strip() for v in values or [] for n in v.split(",") if n.strip()]


def _format_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


@command("methods")
def methods() -> None:
    """List every registered method: name, family, where it comes from, what it supports."""
    from ..methods import registered

    rows = [_COLUMNS] + [(m.name, m.family, m.origin, m.summary) for m in registered().values()]
    typer.echo(_format_table(rows))


@command("verify")
def verify(
    cases: Annotated[int, typer.Option("--cases", min=1, help="Random cases to try.")] = 40,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random cases.")] = 0,
    method_names: Annotated[
        list[str] | None,
        typer.Option("--methods", "-m", help="Methods to check (comma-separated or repeated)."),
    ] = None,
) -> None:
    """Check methods against the reference on random cases; exit 1 if any disagrees."""
    from ..verify import resolve_methods, verify_all

    chosen = resolve_methods(_split_names(method_names))
    failures = verify_all(chosen, n_cases=cases, seed=seed)
    for failure in failures:
        typer.echo(f"FAIL {failure}")
    bad = sorted({f.method for f in failures})
    typer.echo(
        f"{len(chosen)} methods x {cases} cases (seed {seed}): "
        + (f"{len(failures)} disagreements in {', '.join(bad)}" if bad else "all agree")
    )
    if failures:
        raise typer.Exit(EXIT_FAIL)

"""A :class:`~convbench.comparison.Comparison` as text: the headline, the verdict table, markdown.

Formatting only: every number comes from the comparison, every unit from :mod:`convbench.units`.
The terminal table (rich) is drawn by the CLI from :func:`table_header` and :func:`table_rows`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from .cases import Case
from .comparison import Comparison
from .rules import Verdict
from .units import format_bytes, format_ratio

#: Columns of the verdict table of a stored comparison (median and minimum ratios) ...
TABLE_HEADER = ["verdict", "cell", "median", "min", "memory", "why"]
#: ... and of a paired one (median per-round ratio and its interval).
PAIRED_TABLE_HEADER = ["verdict", "cell", "ratio", "interval", "memory", "why"]

ENVIRONMENT_ADVICE = (
    "Absolute times from different machines or library builds are not comparable. Measure both "
    "sides on one machine: `convbench gate CONFIG --base REF` measures the base commit and the "
    "working tree side by side, or make the stored baseline on the gate's machine itself."
)


def cell_label(cell: Mapping) -> str:
    """``method @ case label`` of one verdict row."""
    return f"{cell['method']} @ {Case.from_key(dict(cell)).label()}"


def headline(comparison: Comparison) -> str:
    """One line: FAIL/PASS, counts of the verdicts that matter, geometric mean of the ratios."""
    c = comparison
    n_fail = int(c.cells["failed"].sum())
    counts = ", ".join(
        f"{c.count(v.value)} {v.value}"
        for v in Verdict
        if c.count(v.value) and v is not Verdict.not_timed
    )
    state = f"FAIL: {n_fail} cell(s) regressed or broke" if c.failed else "PASS: no regression"
    return f"{state} ({counts}); geometric mean of time ratios {format_ratio(c.geomean, 'n/a')}"


def table_header(comparison: Comparison) -> list[str]:
    """The columns of :func:`table_rows` for this comparison's rule."""
    return PAIRED_TABLE_HEADER if comparison.paired else TABLE_HEADER


def _interval(cell: Mapping) -> str:
    low, high = format_ratio(cell.get("low")), format_ratio(cell.get("high"))
    return f"{low}..{high}" if low and high else ""


def table_rows(comparison: Comparison, *, show_all: bool = False) -> list[list[str]]:
    """Rows of the verdict table (worst first), columns as :func:`table_header` says.

    ``unchanged`` and ``not-timed`` cells are left out unless ``show_all`` (or they carry a
    memory regression or a confirmation).
    """
    quiet = {Verdict.unchanged.value, Verdict.not_timed.value}
    rows = []
    for cell in comparison.cells.to_dict("records"):
        confirmation = cell.get("confirmation") or ""
        if (
            not show_all
            and cell["verdict"] in quiet
            and cell["memory"] != "regressed"
            and not confirmation
        ):
            continue
        memory = cell["memory"] if cell["memory"] != "unchanged" else ""
        if memory:
            before = format_bytes(cell["base_peak_bytes"])
            after = format_bytes(cell["peak_bytes"])
            memory = f"{memory} ({before} -> {after})"
        spread = _interval(cell) if comparison.paired else format_ratio(cell["min_ratio"])
        rows.append(
            [
                cell["verdict"],
                cell_label(cell),
                format_ratio(cell["ratio"]),
                spread,
                memory,
                f"{confirmation}: {cell['reason']}" if confirmation else str(cell["reason"]),
            ]
        )
    return rows


def rule_line(comparison: Comparison) -> str:
    """One sentence saying which rule judged the cells."""
    c, t = comparison, comparison.thresholds
    memory = f"memory factor {t.memory_factor} and > {format_bytes(t.memory_min_bytes)}"
    if c.paired:
        return (
            f"Rule: base and head measured in paired rounds; on {t.time.value} time the "
            f"{t.confidence:.0%} interval of the median per-round ratio must lie beyond factor "
            f"{t.factor}; {memory}."
        )
    widened = int((pd.to_numeric(c.cells["needed"], errors="coerce") > t.factor).sum())
    noise = (
        f" ({widened} cell(s) whose processes or baseline runs disagree need more: their "
        f"spread ** {t.noise_power:g})"
        if widened
        else ""
    )
    return f"Rule: `{t.stat.value}` on {t.time.value} time, factor {t.factor}{noise}; {memory}."


def to_markdown(
    comparison: Comparison, *, title: str = "convbench compare", show_all: bool = False
) -> str:
    """The comparison as GitHub-flavoured markdown (for ``$GITHUB_STEP_SUMMARY``)."""
    c = comparison
    lines = [f"## {title}", "", f"**{headline(c)}**", "", rule_line(c)]
    if c.environment:
        lines += ["", "> [!WARNING]", "> **The environments differ** - " + ENVIRONMENT_ADVICE, ">"]
        lines += ["> | key | baseline | current |", "> |---|---|---|"]
        lines += [f"> | {k} | {_md(vb)} | {_md(vc)} |" for k, vb, vc in c.environment]
    rows = table_rows(c, show_all=show_all)
    header = table_header(c)
    lines += [""]
    if rows:
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(_md(x) for x in row) + " |" for row in rows]
    else:
        lines += ["Every matched cell is unchanged."]
    if len(c.fastest_changes):
        lines += [
            "",
            "### Fastest method changed",
            "",
            "| case | baseline | current |",
            "|---|---|---|",
        ]
        lines += [
            f"| {_md(r['case'])} | {r['base_fastest']} | {r['fastest']} |"
            for r in c.fastest_changes.to_dict("records")
        ]
    return "\n".join(lines) + "\n"


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")

"""Compare two results CSVs cell by cell and decide what regressed: the public entry points.

The work is split by concern, and this module gathers their public names:

* :mod:`convbench.rules`: the verdicts, :class:`Thresholds` and every default;
* :mod:`convbench.stats`: the statistics, pure functions of arrays (stored and paired rules);
* :mod:`convbench.comparison`: matching two tables cell by cell, baselines of several runs;
* :mod:`convbench.envdiff`: which sidecar differences make two runs incomparable;
* :mod:`convbench.render`: the headline, the verdict table, markdown.
"""

from __future__ import annotations

from .comparison import (
    Comparison,
    baseline_envelope,
    check_compatible,
    compare_files,
    compare_frames,
    compare_paired,
    fastest_changes,
    geometric_mean,
    paired_with,
    process_spread,
    read_baseline,
    round_medians,
    sort_cells,
    usual_wall_cpu,
    within_spread,
)
from .envdiff import environment_differences
from .render import (
    ENVIRONMENT_ADVICE,
    PAIRED_TABLE_HEADER,
    TABLE_HEADER,
    cell_label,
    headline,
    rule_line,
    table_header,
    table_rows,
    to_markdown,
)
from .rules import (
    FAILING,
    NOISE_POWER,
    PROBE_POWER,
    VERDICT_ORDER,
    Stat,
    Thresholds,
    TimeBasis,
    Verdict,
)
from .stats import (
    PairedJudgement,
    TimeJudgement,
    between_run_spread,
    judge_memory,
    judge_paired,
    judge_times,
    median_interval,
    needed_ratio,
    spread,
)

__all__ = [
    "ENVIRONMENT_ADVICE",
    "FAILING",
    "NOISE_POWER",
    "PAIRED_TABLE_HEADER",
    "PROBE_POWER",
    "TABLE_HEADER",
    "VERDICT_ORDER",
    "Comparison",
    "PairedJudgement",
    "Stat",
    "Thresholds",
    "TimeBasis",
    "TimeJudgement",
    "Verdict",
    "baseline_envelope",
    "between_run_spread",
    "cell_label",
    "check_compatible",
    "compare_files",
    "compare_frames",
    "compare_paired",
    "environment_differences",
    "fastest_changes",
    "geometric_mean",
    "headline",
    "judge_memory",
    "judge_paired",
    "judge_times",
    "median_interval",
    "needed_ratio",
    "paired_with",
    "process_spread",
    "read_baseline",
    "round_medians",
    "rule_line",
    "sort_cells",
    "spread",
    "table_header",
    "table_rows",
    "to_markdown",
    "usual_wall_cpu",
    "within_spread",
]

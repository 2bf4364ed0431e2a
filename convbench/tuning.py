"""The plain functions behind `convbench tune` and `convbench advise` (no typer here)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import advise
from .cases import CASE_KEYS, Case
from .errors import ConfigError
from .locks import output_lock
from .results import read_rows
from .units import format_bytes, format_seconds

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10}
_UNITS |= {"mib": 2**20, "gib": 2**30}


def parse_bytes(text: str) -> int:
    """``"512MB"``, ``"2GiB"``, ``"1000"`` -> bytes.

    Raises
    ------
    ConfigError
        Naming the option when the text is not a size.
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ConfigError(f"--memory-limit: expected a size like 512MB or 2GiB, got {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def _pair(text: str, option: str) -> tuple[int, int]:
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
        raise ConfigError(f"--{option}: expected an integer or h,w, got {text!r}")
    values = [int(p) for p in parts]
    return (values[0], values[-1])


def parse_case(
    input_size: str, kernel_size: str, depth: int, stride: str, padding: str, dtype: str
) -> Case:
    """The case described by ``advise``'s options.

    Raises
    ------
    ConfigError
        Naming the option that is wrong.
    """
    case = Case(
        input_size=_pair(input_size, "input-size"),
        kernel_size=_pair(kernel_size, "kernel-size"),
        depth=depth,
        stride=_pair(stride, "stride"),
        padding=_pair(padding, "padding"),
        dtype=dtype,
    )
    if dtype not in ("int64", "float32", "float64"):
        raise ConfigError(f"--dtype: expected int64, float32 or float64, got {dtype!r}")
    if depth < 0:
        raise ConfigError(f"--depth: must be >= 0, got {depth}")
    if min(case.input_size + case.kernel_size + case.stride) < 1:
        raise ConfigError("--input-size, --kernel-size and --stride must be >= 1")
    if not case.feasible:
        raise ConfigError(
            f"--kernel-size: {case.kernel_size} is larger than the padded input {case.padded_size}"
        )
    return case


def advice_text(case: Case, memory_limit: str | None, table_path: Path | None) -> str:
    """The lines ``convbench advise`` prints: the recommendation and the runner-up."""
    table = advise.load_table(table_path) if table_path else advise.default_table()
    limit = parse_bytes(memory_limit) if memory_limit else advise.default_memory_limit()
    from .methods import registered

    ranked = advise.choose(case, registered(), limit, table)
    lines = [f"case: {case.label()}", f"memory limit: {format_bytes(limit)}"]
    for label, cand in zip(("recommended", "runner-up"), ranked[:2], strict=False):
        how = "measured" if cand.measured else "predicted"
        lines.append(
            f"{label}: {cand.method}  expected time {format_seconds(cand.expected_time_s)} ({how})"
            f"  expected memory {format_bytes(cand.expected_bytes)}"
        )
    if len(ranked) < 2:
        lines.append("runner-up: none (no other tuned method fits)")
    return "\n".join(lines)


def latest_rows(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The rows of ``frames``, where several have a (cell, allocator, method), the last one's."""
    keys = [*CASE_KEYS, "allocator", "method"]
    tagged = [f.assign(_frame=i) for i, f in enumerate(frames)]
    rows = pd.concat(tagged, ignore_index=True)
    for key in keys:
        if key not in rows.columns:
            rows[key] = ""
    last = rows.groupby(keys, dropna=False)["_frame"].transform("max")
    return rows[rows["_frame"] == last].drop(columns="_frame").reset_index(drop=True)


def tune_from_csvs(
    paths: Sequence[os.PathLike | str], output: os.PathLike | str | None = None
) -> tuple[Path, str]:
    """Build a table from results CSVs, save it (default: the user cache) and summarise it.

    A (cell, method) that a later CSV has replaces its rows of earlier CSVs (a method re-measured
    after a fix); rows of one (cell, method) within one CSV count by their median.
    """
    table = advise.build_table(latest_rows([read_rows(p) for p in paths]), [str(p) for p in paths])
    where = Path(output or advise.user_table_path())
    with output_lock(where):  # re-tuning replaces the table by design, but one tune at a time
        target = advise.save_table(table, where)
    advise.forget_default_table()
    from .methods import auto

    auto.forget_choices()
    summary = (
        f"{table.meta['cells']} measured (cell, method) pairs, "
        f"{len(table.methods())} methods: {', '.join(table.methods())}"
    )
    return target, summary


#: The tuning sweep shipped with the package (the grid the default table was fitted on).
DEFAULT_TUNE_CONFIG = Path(__file__).parent / "data" / "tune.yaml"


def tune_by_measuring(
    config: os.PathLike | str = DEFAULT_TUNE_CONFIG, output: os.PathLike | str | None = None
) -> tuple[Path, str]:
    """Run the sweep ``config`` on this machine, then build the table from its CSV."""
    from .config import load_sweep
    from .runner import run_sweep

    sweep = load_sweep(config)
    csv = advise.user_table_path().with_name(f"tune-{Path(config).stem}.csv")
    csv.parent.mkdir(parents=True, exist_ok=True)
    run_sweep(sweep, csv, overwrite=True)  # convbench's own scratch file, re-measured by design
    return tune_from_csvs([csv], output)

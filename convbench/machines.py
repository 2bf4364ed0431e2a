"""Results from several machines side by side: which method is fastest where, per machine.

Each CSV's machine is the CPU model its sidecar records (``cpu_model``); two files with the same
CPU model but different hosts are told apart by host name, then by file name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .cases import CASE_KEYS, Case
from .errors import ResultsError
from .results import read_meta, read_rows

MACHINE = "machine"


def machine_labels(paths: Sequence[str | os.PathLike]) -> list[str]:
    """One distinct label per file: its CPU model, made unique by host name, then file name."""
    metas = [read_meta(p) for p in paths]
    labels = [str(m.get("cpu_model") or "unknown CPU") for m in metas]
    hosts = [m.get("hostname") for m in metas]
    labels = [
        _unique(labels, i, f"{lb} ({hosts[i]})" if hosts[i] else lb) for i, lb in enumerate(labels)
    ]
    return [_unique(labels, i, f"{lb} [{Path(paths[i]).stem}]") for i, lb in enumerate(labels)]


def _unique(labels: list[str], i: int, longer: str) -> str:
    """``labels[i]`` if no other label equals it, else ``longer``."""
    return longer if labels.count(labels[i]) > 1 else labels[i]


def combine(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """The rows of every CSV in one DataFrame, with a ``machine`` column (see module docstring).

    Raises :class:`ResultsError` when a file is unreadable or the same file is given twice.
    """
    if not paths:
        raise ResultsError("give at least one results CSV")
    resolved = [Path(p).resolve() for p in paths]
    if len(set(resolved)) != len(resolved):
        raise ResultsError("the same results CSV is given twice")
    frames = []
    for path, label in zip(paths, machine_labels(paths), strict=True):
        df = read_rows(path)
        df.insert(0, MACHINE, label)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def fastest_by_machine(df: pd.DataFrame) -> pd.DataFrame:
    """Fastest method (least median wall time among ``ok`` rows) per cell and machine.

    Returns one row per case (``CASE_KEYS`` columns), one column per machine holding the method
    name (empty where that machine has no ok row for the case), and ``differ``: True where the
    machines that measured the case disagree. Cost: O(rows log rows).
    """
    machines = list(dict.fromkeys(df[MACHINE]))
    ok = df[df["status"] == "ok"].dropna(subset=["time_median_s"])
    best = ok.sort_values("time_median_s", kind="stable").drop_duplicates(
        [MACHINE, *CASE_KEYS], keep="first"
    )
    cases = df[list(CASE_KEYS)].drop_duplicates()  # in the order the files list them
    winner = best.set_index([*CASE_KEYS, MACHINE])["method"]
    table = cases.reset_index(drop=True)
    for m in machines:
        keys = [(*k, m) for k in table[list(CASE_KEYS)].itertuples(index=False)]
        table[m] = [winner.get(k, "") for k in keys]
    winners = table[machines].apply(lambda r: {m for m in r if m}, axis=1)
    table["differ"] = winners.map(len) > 1
    return table


def comparison_lines(table: pd.DataFrame, machines: Sequence[str], differ_only: bool) -> list[str]:
    """Text of ``convbench machines``: legend, case, winner per machine, ``*`` if they differ."""
    short = [f"M{i + 1}" for i in range(len(machines))]
    out = [f"{s} = {m}" for s, m in zip(short, machines, strict=True)]
    rows = table[table["differ"]] if differ_only else table
    labels = [Case.from_key(r).label() for r in rows.to_dict("records")]
    width = max([len("case"), *map(len, labels)])
    cols = [max([len(s), *map(len, rows[m])]) for s, m in zip(short, machines, strict=True)]
    head = [f"{'case':<{width}}", *(f"{s:<{w}}" for s, w in zip(short, cols, strict=True))]
    out.append("  ".join(head).rstrip())
    for label, r in zip(labels, rows.to_dict("records"), strict=True):
        cells = (f"{r[m] or '-':<{w}}" for m, w in zip(machines, cols, strict=True))
        out.append("  ".join([f"{label:<{width}}", *cells, "*" if r["differ"] else ""]).rstrip())
    out.append(
        f"fastest method differs between machines on {int(table['differ'].sum())} "
        f"of {len(table)} cells (marked *)"
    )
    return out

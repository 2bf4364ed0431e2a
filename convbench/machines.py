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
from .fastest import fastest, one_allocator
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
    """The fastest method per cell and machine, by :func:`convbench.fastest.fastest`.

    Per machine, only one allocator's rows count (``default`` where there are any), so a cell
    never mixes two. Returns one row per case (``CASE_KEYS`` columns), one column per machine
    holding the method's name (empty where that machine names none: no ``ok`` row, or only
    dispatchers), ``tied``: the machines on which the runner-up is within the noise, and
    ``differ``: True where two machines name different methods and neither is a tie. Cost:
    O(rows log rows) plus one Mann–Whitney test per cell and machine.
    """
    machines = list(dict.fromkeys(df[MACHINE]))
    rows = pd.concat([one_allocator(part) for _, part in df.groupby(MACHINE, sort=False)])
    best = fastest(rows, by=[MACHINE]).set_index([*CASE_KEYS, MACHINE])
    cases = df[list(CASE_KEYS)].drop_duplicates()  # in the order the files list them
    table = cases.reset_index(drop=True)
    keys = list(table[list(CASE_KEYS)].itertuples(index=False, name=None))
    for m in machines:
        table[m] = [best["method"].get((*k, m), "") for k in keys]
    table["tied"] = [[m for m in machines if best["tie"].get((*k, m), False)] for k in keys]
    decided = table.apply(lambda r: {r[m] for m in machines if r[m] and m not in r["tied"]}, axis=1)
    table["differ"] = decided.map(len) > 1
    return table


def comparison_lines(table: pd.DataFrame, machines: Sequence[str], differ_only: bool) -> list[str]:
    """Text of ``convbench machines``: legend, case, winner per machine (``=`` after a tie with
    the runner-up), ``*`` if they differ."""
    short = [f"M{i + 1}" for i in range(len(machines))]
    out = [f"{s} = {m}" for s, m in zip(short, machines, strict=True)]
    rows = table[table["differ"]] if differ_only else table
    records = rows.to_dict("records")
    labels = [Case.from_key(r).label() for r in records]
    names = [{m: _winner_text(r, m) for m in machines} for r in records]
    width = max([len("case"), *map(len, labels)])
    cols = [
        max([len(s), *(len(n[m]) for n in names)]) for s, m in zip(short, machines, strict=True)
    ]
    head = [f"{'case':<{width}}", *(f"{s:<{w}}" for s, w in zip(short, cols, strict=True))]
    out.append("  ".join(head).rstrip())
    for label, r, name in zip(labels, records, names, strict=True):
        cells = (f"{name[m]:<{w}}" for m, w in zip(machines, cols, strict=True))
        out.append("  ".join([f"{label:<{width}}", *cells, "*" if r["differ"] else ""]).rstrip())
    out.append(
        f"fastest method differs between machines on {int(table['differ'].sum())} "
        f"of {len(table)} cells (marked *; `=` a tie with the runner-up, never a difference)"
    )
    return out


def _winner_text(record: dict, machine: str) -> str:
    if not record[machine]:
        return "-"
    return record[machine] + ("=" if machine in record["tied"] else "")

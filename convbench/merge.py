"""Merge the CSVs of a sharded sweep into the file one unsharded run would have written.

Shards are accepted only together with their own kind: one config hash, one method list, one
shard plan, one schema version and (unless ``allow_machines``) one CPU model, all read from the
sidecars. The expected cells are re-expanded from the config stored in the sidecar, so a shard
that never ran, or died half way, shows up as missing cells instead of a silently smaller table.
Rows are copied as text (no float round trip) in the config's cell order (case, allocator,
method), under ``COLUMNS``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .cases import CASE_KEYS, Case
from .errors import ConfigError, ResultsError
from .locks import output_lock
from .results import (
    COLUMNS,
    KNOWN_SCHEMAS,
    check_overwrite,
    meta_path,
    read_meta,
    row_key,
    write_meta,
)

#: How many missing or duplicated cells the report lists before it just counts.
LISTED = 10


@dataclass
class ShardFile:
    """One results CSV with its sidecar, its rows as text, and whether a torn line was dropped."""

    path: Path
    meta: dict
    rows: list[dict[str, str]]
    torn: bool = False

    @property
    def schema(self) -> str:
        schemas = {r["schema"] for r in self.rows}
        return schemas.pop() if len(schemas) == 1 else "/".join(sorted(schemas)) or "?"

    @property
    def shard(self) -> str:
        s = self.meta.get("shard") or {}
        return f"{s['index']}/{s['count']}" if s else "unsharded"


def read_shard(path: str | os.PathLike) -> ShardFile:
    """Read a results CSV as text rows plus its sidecar, checking both.

    A last line without its newline (the process was killed while writing it) is dropped, as
    ``--resume`` would drop it. Raises :class:`ResultsError` with a one-line message.
    """
    p = Path(path)
    if not p.is_file():
        raise ResultsError(f"{p}: no such results file")
    meta = read_meta(p)
    if not meta.get("config_hash"):
        raise ResultsError(
            f"{p}: no sidecar {meta_path(p).name} with a config hash; merge needs the sidecar "
            "that `convbench run` writes beside each CSV"
        )
    try:
        with open(p, newline="") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise ResultsError(f"{p}: not a convbench results CSV ({e})") from None
    torn = bool(text) and not text.endswith("\n")
    if torn:
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = tuple(reader.fieldnames or ())
    if header != COLUMNS:
        raise ResultsError(
            f"{p}: its columns differ from this convbench's results schema "
            f"(first difference at {_first_difference(header)}); re-run it with this version"
        )
    rows = list(reader)
    for r in rows:
        if r["schema"] not in {str(v) for v in KNOWN_SCHEMAS}:
            raise ResultsError(
                f"{p}: results schema {r['schema']!r} is unknown to this convbench "
                f"(knows {sorted(KNOWN_SCHEMAS)}); upgrade convbench or re-run the sweep"
            )
    return ShardFile(p, meta, rows, torn)


def _first_difference(header: tuple[str, ...]) -> str:
    for i, (got, want) in enumerate(zip(header, COLUMNS, strict=False)):
        if got != want:
            return f"column {i + 1}: {got!r}, expected {want!r}"
    n = min(len(header), len(COLUMNS)) + 1
    return f"column {n}: {len(header)} columns, expected {len(COLUMNS)}"


# --------------------------------------------------------------------------- checks


def check_compatible(shards: Sequence[ShardFile], *, allow_machines: bool = False) -> None:
    """Refuse shards that one unsharded run could not have written together.

    Raises
    ------
    ResultsError
        Naming the first file that differs from the first one, and in what.
    """
    first = shards[0]

    def refuse(other: ShardFile, what: str, a: object, b: object, hint: str) -> ResultsError:
        return ResultsError(f"{other.path}: {what} differs from {first.path} ({b} vs {a}); {hint}")

    for s in shards[1:]:
        if s.meta["config_hash"] != first.meta["config_hash"]:
            raise refuse(
                s,
                "config hash",
                first.meta["config_hash"],
                s.meta["config_hash"],
                "merge only shards of one sweep config",
            )
        if s.schema != first.schema:
            raise refuse(
                s, "results schema", first.schema, s.schema, "re-run it with one convbench version"
            )
        if _method_names(s) != _method_names(first):
            raise refuse(
                s,
                "method list",
                ",".join(_method_names(first)),
                ",".join(_method_names(s)),
                "run every shard with the same --methods",
            )
        plan_a, plan_b = _plan(first), _plan(s)
        if plan_a != plan_b:
            raise refuse(
                s, "shard plan", plan_a, plan_b, "run every shard with the same N and --costs"
            )
        cpu_a, cpu_b = _cpu(first), _cpu(s)
        if cpu_a != cpu_b and not allow_machines:
            raise refuse(
                s,
                "CPU model",
                cpu_a,
                cpu_b,
                "timings of different machines do not mix; pass --allow-machines to merge anyway",
            )


def _method_names(s: ShardFile) -> list[str]:
    return [str(m["name"]) for m in s.meta.get("methods", [])]


def _plan(s: ShardFile) -> str:
    shard = s.meta.get("shard") or {}
    return f"{shard.get('count')} shards, plan {shard.get('plan')}" if shard else "unsharded"


def _cpu(s: ShardFile) -> str:
    return str(s.meta.get("cpu_model") or "unknown CPU")


def expected_keys(meta: dict, where: str = "sidecar") -> list[tuple]:
    """Row keys of every cell of the config stored in ``meta``, in the config's cell order.

    The cases come from re-expanding ``meta['config']``; the methods are the names the sidecar
    lists (what was run, ``--methods`` included), so no user module needs to be importable.
    """
    from .config import load_sweep_text

    if not isinstance(meta.get("config"), dict) or not meta.get("methods"):
        raise ResultsError(f"{where}: the sidecar has no config or method list to expand")
    names = [str(m["name"]) for m in meta["methods"]]
    raw = dict(meta["config"])
    # Every name resolves to a stand-in: expanding the cases must not import the user's methods.
    raw["methods"] = [{n: f"{__name__}:_stand_in"} for n in names]
    try:
        sweep = load_sweep_text(json.dumps(raw), name=str(meta.get("config_name", "sweep")))
    except ConfigError as e:
        raise ResultsError(f"{where}: cannot expand the stored config ({e})") from None
    return [
        row_key({"method": n, **case.key(), "allocator": allocator})
        for case in sweep.cases
        for allocator in sweep.allocators
        for n in names
    ]


def _stand_in(*args: object) -> None:
    """Placeholder method used only to expand a stored config (never called)."""


# --------------------------------------------------------------------------- merge


@dataclass
class MergeReport:
    """What a merge found and wrote."""

    output: Path
    shards: list[ShardFile]
    rows: int = 0
    expected: int = 0
    missing: list[tuple] = field(default_factory=list)
    duplicated: list[tuple] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every expected cell present exactly once."""
        return not self.missing and not self.duplicated

    def lines(self) -> list[str]:
        """The human report printed by ``convbench merge``."""
        out = [f"  {s.path}: {len(s.rows)} rows ({s.shard}, {_cpu(s)})" for s in self.shards]
        out += [f"  {s.path}: dropped a torn last line" for s in self.shards if s.torn]
        out += [f"  {s.path}: its run was interrupted" for s in self.shards if _stopped(s)]
        out.append(
            f"merged {len(self.shards)} files: {self.rows} of {self.expected} cells, "
            f"{len(self.missing)} missing, {len(self.duplicated)} duplicated"
        )
        for title, keys in (("missing", self.missing), ("duplicated", self.duplicated)):
            for key in keys[:LISTED]:
                out.append(f"  {title}: {_label(key)}")
            if len(keys) > LISTED:
                out.append(f"  ... and {len(keys) - LISTED} more {title}")
        if self.missing:
            out.append(
                "re-run the shards that lack cells with --resume (same --shard K/N, same CSV), "
                "then merge again"
            )
        out.append(f"results: {self.output}")
        return out


def _stopped(s: ShardFile) -> bool:
    return bool(s.meta.get("interrupted"))


def _label(key: tuple) -> str:
    method, *case_values, allocator = key
    case = Case.from_key(dict(zip(CASE_KEYS, case_values, strict=True)))
    return f"{method} on {case.label()} ({allocator} allocator)"


def merge_shards(
    output: str | os.PathLike,
    paths: Sequence[str | os.PathLike],
    *,
    allow_machines: bool = False,
    overwrite: bool = False,
) -> MergeReport:
    """Merge shard CSVs into ``output`` (+ its sidecar) and report missing and duplicated cells.

    A cell found twice keeps the row finished last (a re-measured cell supersedes the old one);
    it is still reported. Cost: O(rows) time and memory.

    An existing ``output`` with rows is replaced only when it is itself a merge (its sidecar has
    ``merged_from``: merging again after resuming a shard is the usual way) or ``overwrite``;
    measured rows are never replaced silently. The output is locked while it is written.

    Raises
    ------
    ResultsError
        Unreadable or incompatible inputs (see :func:`check_compatible`), an output that is one
        of the inputs, rows that the stored config does not produce, an output that another
        process writes, or one with measured rows (without ``overwrite``).
    """
    out = Path(output)
    if not paths:
        raise ResultsError("merge: give at least one shard CSV")
    for p in paths:
        if Path(p).resolve() == out.resolve():
            raise ResultsError(f"{out}: the output is also an input; write the merge elsewhere")
    shards = [read_shard(p) for p in paths]
    check_compatible(shards, allow_machines=allow_machines)
    order = expected_keys(shards[0].meta, where=str(meta_path(shards[0].path)))
    position = {k: i for i, k in enumerate(order)}
    chosen: dict[tuple, dict[str, str]] = {}
    seen_twice: dict[tuple, None] = {}
    for s in shards:
        for r in s.rows:
            key = row_key(r)
            if key not in position:
                raise ResultsError(
                    f"{s.path}: row {_label(key)} is not a cell of the config in its sidecar"
                )
            if key in chosen:
                seen_twice[key] = None
                if r["finished_at"] < chosen[key]["finished_at"]:
                    continue
            chosen[key] = r
    report = MergeReport(out, shards, rows=len(chosen), expected=len(order))
    report.missing = [k for k in order if k not in chosen]
    report.duplicated = sorted(seen_twice, key=position.__getitem__)
    with output_lock(out):
        if not _is_merge(out):  # a previous merge is simply re-made
            check_overwrite(out, overwrite=overwrite)
        _write_rows(out, [chosen[k] for k in order if k in chosen])
        write_meta(out, merged_meta(shards, report))
    return report


def _is_merge(path: Path) -> bool:
    try:
        return bool(read_meta(path).get("merged_from"))
    except ResultsError:  # an unreadable sidecar proves nothing
        return False


def _write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    tmp = path.with_suffix(".csv.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ResultsError(f"{path}: cannot write the merged rows: {e.strerror or e}") from None


def merged_meta(shards: Sequence[ShardFile], report: MergeReport) -> dict:
    """The merged sidecar: the first shard's, without its shard entry, plus where rows came from."""
    meta = {k: v for k, v in shards[0].meta.items() if k != "shard"}
    starts = [s.meta.get("started_at") for s in shards]
    ends = [s.meta.get("finished_at") for s in shards]
    cpus = list(dict.fromkeys(_cpu(s) for s in shards))
    meta.update(
        started_at=min((t for t in starts if t), default=None),
        finished_at=None if None in ends else max(ends),
        interrupted=any(bool(s.meta.get("interrupted")) for s in shards),
        cpu_model=cpus[0] if len(cpus) == 1 else " + ".join(cpus),
        merged_from=[
            {
                "path": str(s.path),
                "rows": len(s.rows),
                "shard": s.meta.get("shard"),
                "cpu_model": s.meta.get("cpu_model"),
                "hostname": s.meta.get("hostname"),
                "started_at": s.meta.get("started_at"),
                "finished_at": s.meta.get("finished_at"),
            }
            for s in shards
        ],
        missing_cells=len(report.missing),
        duplicated_cells=len(report.duplicated),
    )
    return meta

"""The tidy results format: one CSV row per (case, method), plus a JSON sidecar.

Everything downstream (plot, compare, report, merge) reads only these files, so a CSV written on
another machine last month is as good as one written now.

Schema history (bump ``SCHEMA_VERSION`` and add a line whenever a column changes meaning):

1. First version.
2. Every (case, method) is timed in several fresh worker processes: new row key ``allocator``
   (``default``/``steady``), new columns ``processes``, ``sample_process``,
   ``process_medians_s``, ``process_spread``, ``host_load``, ``probe_s``, ``rss_peak_bytes``;
   ``time_median_s``/``cpu_median_s`` are the median of the per-process medians; ``peak_bytes``
   is never below ``tracemalloc_bytes``. Version 1 rows read as ``allocator: steady`` (they were
   timed in one long-lived process, the last ones with fixed glibc thresholds), one process.
3. New column ``first_call_s``: the wall time of the method's first call in a fresh worker
   process (the check call), one-time costs included (JIT compiling or loading compiled code
   from disk, lazy imports, FFT plans); the timing columns never include it. Older rows read
   it as empty.

Sidecar history (``meta_version``): 1. First versioned sidecar (``results.build_meta``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from .cases import CASE_KEYS, Case
from .errors import ResultsError

SCHEMA_VERSION = 3
KNOWN_SCHEMAS = frozenset({1, 2, 3})
META_VERSION = 1

#: Row statuses. Only ``ok`` rows carry timings.
STATUSES = ("ok", "wrong", "error", "skipped", "unsupported")

#: Columns of a results CSV, in order. Units live in the names.
COLUMNS: tuple[str, ...] = (
    "schema",
    "method",
    "family",
    *CASE_KEYS,
    "allocator",  # default (glibc as a plain program has it) or steady (fixed thresholds)
    "status",
    "reason",
    "loops",  # calls per timed sample (calibrated)
    "repeats",  # number of samples, all processes together
    "processes",  # fresh worker processes the samples come from
    "time_min_s",  # wall seconds per call
    "time_median_s",  # median of the per-process medians
    "time_iqr_s",  # IQR of all samples
    "cpu_min_s",  # process CPU seconds per call
    "cpu_median_s",  # median of the per-process CPU medians
    "wall_cpu_ratio",  # median wall / median CPU; far above 1 means the run was disturbed
    "samples_s",  # raw wall seconds per call of every sample, space separated
    "cpu_samples_s",  # raw CPU seconds per call of every sample, space separated
    "sample_process",  # the worker process (0, 1, ...) each sample came from
    "process_medians_s",  # median CPU seconds per call of each process
    "process_spread",  # slowest / fastest process median (CPU): the noise between processes
    "host_load",  # cores used by other processes while timing (max over processes)
    "probe_s",  # CPU seconds of a fixed probe workload around the timing (median of processes)
    "peak_bytes",  # peak extra resident memory of one call (native buffers included)
    "tracemalloc_bytes",  # peak of Python-visible allocations of one call (numpy buffers)
    "rss_peak_bytes",  # resident-set high-water mark of one call (blocks >= 64 KiB)
    "estimated_bytes",  # the method's own prediction of its peak extra memory
    "max_abs_err",  # against the reference
    "first_call_s",  # wall seconds of the first call in a fresh process (compiling included)
    "gflops",  # Case.flops / time_median_s / 1e9
    "finished_at",  # ISO time the row was written
)

ROW_KEY: tuple[str, ...] = ("method", *CASE_KEYS, "allocator")
SAMPLE_COLUMNS = ("samples_s", "cpu_samples_s", "process_medians_s", "sample_process")
#: What a row's ``allocator`` is when the row does not say (version 1 files: see the history).
DEFAULT_ALLOCATOR = "default"
V1_ALLOCATOR = "steady"


def meta_path(csv_path: str | os.PathLike) -> Path:
    """The sidecar of ``results/x.csv`` is ``results/x.meta.json``."""
    return Path(csv_path).with_suffix(".meta.json")


def format_samples(samples: Iterable[float]) -> str:
    """Raw samples as a compact, lossless-enough text field (integers stay integers)."""
    return " ".join(str(s) if isinstance(s, (int, np.integer)) else f"{s:.6e}" for s in samples)


def parse_samples(text: object) -> list[float]:
    """Inverse of :func:`format_samples`; empty or NaN gives ``[]``."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return []
    return [float(t) for t in str(text).split()]


def make_row(
    case: Case,
    method: str,
    family: str,
    status: str,
    *,
    allocator: str = DEFAULT_ALLOCATOR,
    **fields: object,
) -> dict:
    """A complete row dict: the case keys, the given fields, and empty values for the rest."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    unknown = set(fields) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown result columns: {sorted(unknown)}")
    row: dict[str, object] = dict.fromkeys(COLUMNS, "")
    row.update(schema=SCHEMA_VERSION, method=method, family=family, status=status)
    row.update(case.key())
    row["allocator"] = allocator
    for name in SAMPLE_COLUMNS:
        if name in fields and not isinstance(fields[name], str):
            fields[name] = format_samples(fields[name])  # type: ignore[arg-type]
    row.update(fields)
    for name, value in row.items():  # None and NaN are written as an empty field: "unknown"
        if value is None or (isinstance(value, float) and math.isnan(value)):
            row[name] = ""
    return row


@dataclass(frozen=True)
class Row:
    """One finished cell, immutable from the runner until :class:`RowWriter` writes it.

    ``fields`` holds the measured columns (any of :data:`COLUMNS`); :meth:`as_dict` gives the
    complete CSV row.
    """

    case: Case
    method: str
    family: str
    status: str
    allocator: str = DEFAULT_ALLOCATOR
    fields: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        make_row(self.case, self.method, self.family, self.status, **dict(self.fields))  # checks
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))

    def replace(self, **fields: object) -> Row:
        """A copy with some measured columns changed."""
        return Row(
            self.case, self.method, self.family, self.status, self.allocator,
            {**self.fields, **fields},
        )  # fmt: skip

    def get(self, column: str, default: object = "") -> object:
        return self.as_dict().get(column, default)

    def as_dict(self) -> dict:
        return make_row(
            self.case,
            self.method,
            self.family,
            self.status,
            allocator=self.allocator,
            **dict(self.fields),
        )

    def key(self) -> tuple:
        return row_key(self.as_dict())


def row_key(row: Mapping[str, object]) -> tuple:
    """The identity of a row: method plus case keys, normalised to plain Python values."""
    return tuple(_norm(k, row.get(k)) for k in ROW_KEY)


def _norm(column: str, value: object) -> object:
    if column == "allocator":
        return str(value) if value and value == value else DEFAULT_ALLOCATOR
    if column in ("method", "dtype"):
        return str(value)
    return int(float(value))  # type: ignore[arg-type]


def data_rows(path: str | os.PathLike) -> int:
    """How many rows (lines after the header, a torn last one included) ``path`` holds."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            lines = sum(1 for line in f if line.strip())
    except FileNotFoundError:
        return 0
    except OSError as e:
        raise ResultsError(f"{p}: cannot read it: {e.strerror or e}") from None
    return max(0, lines - 1)


def backup_path(path: str | os.PathLike) -> Path:
    """Where ``overwrite`` keeps the previous file: ``results/x.csv`` -> ``results/x.csv.bak``."""
    p = Path(path)
    return p.with_name(p.name + ".bak")


def check_overwrite(
    path: str | os.PathLike, *, resume: bool = False, overwrite: bool = False
) -> int:
    """Refuse to replace a results file that has rows, unless ``resume`` or ``overwrite``.

    Returns the number of rows already there.

    Raises
    ------
    ResultsError
        ``path`` has rows and neither flag is given; the message says what to pass.
    """
    n = data_rows(path)
    if n and not (resume or overwrite):
        raise ResultsError(
            f"{path} has {n} row{'s' if n != 1 else ''}: "
            "--resume to continue, --overwrite to replace"
        )
    return n


class RowWriter:
    """Append rows to a CSV, flushing each one to disk as soon as it is written.

    A run killed at any point loses at most the row being written; ``existing_keys`` lets a
    resumed run skip what is already there. A write that fails (a full disk) is undone, so every
    row before it stays valid, and raises :class:`ResultsError` naming the file and the OS error.

    A file that already has rows is refused unless ``resume`` (append to it) or ``overwrite``
    (replace it). With ``overwrite``, the previous CSV and its sidecar are kept as ``.bak``
    files until the first new row is on disk (or :meth:`commit` says something else of the new
    run is), then removed; a writer closed before that puts them back.
    """

    def __init__(
        self, path: str | os.PathLike, *, resume: bool = False, overwrite: bool = False
    ) -> None:
        self.path = Path(path)
        self.existing_keys: set[tuple] = set()
        self.rows_written = 0
        self._backups: list[tuple[Path, Path]] = []
        had_rows = check_overwrite(self.path, resume=resume, overwrite=overwrite)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if resume and self.path.exists() and self.path.stat().st_size > 0:
                self._check_header()
                self._repair_partial_last_line()
                self.existing_keys = {row_key(r) for r in read_rows(self.path).to_dict("records")}
                mode = "ab"
            else:
                if had_rows:
                    self._back_up()
                mode = "wb"
            # Unbuffered: a row is on disk or not at all, nothing lingers in a buffer.
            self._file = open(self.path, mode, buffering=0)
        except OSError as e:
            self._restore()
            raise ResultsError(f"{self.path}: cannot write: {e.strerror or e}") from None
        if mode == "wb":
            header = io.StringIO(newline="")
            csv.DictWriter(header, fieldnames=COLUMNS).writeheader()
            try:
                self._append(header.getvalue(), "the header")
            except ResultsError:
                self._file.close()
                self._restore()
                raise

    def _back_up(self) -> None:
        for src in (self.path, meta_path(self.path)):
            if src.exists():
                dst = backup_path(src)
                src.replace(dst)
                self._backups.append((src, dst))

    def _restore(self) -> None:
        for src, dst in self._backups:
            with contextlib.suppress(OSError):
                dst.replace(src)
        self._backups = []

    def _drop_backups(self) -> None:
        for _, dst in self._backups:
            with contextlib.suppress(OSError):
                dst.unlink()
        self._backups = []

    def _check_header(self) -> None:
        # Rows appended under another header would land in the wrong columns.
        with open(self.path, newline="") as f:
            header = next(csv.reader(f), [])
        if header != list(COLUMNS):
            raise ResultsError(
                f"{self.path}: its columns are not this convbench's (written by another "
                "version); resume needs the same columns: --overwrite, or a new --output"
            )

    def _repair_partial_last_line(self) -> None:
        # A kill in the middle of a write can leave a line without its newline: drop it.
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.path.write_bytes(data[: data.rfind(b"\n") + 1])

    def write(self, row: Row | Mapping[str, object]) -> None:
        """Append ``row`` and flush it to disk.

        Raises
        ------
        ResultsError
            The write failed (e.g. no space left); the file is as it was before the row.
        """
        if isinstance(row, Row):
            row = row.as_dict()
        text = io.StringIO(newline="")
        csv.DictWriter(text, fieldnames=COLUMNS).writerow(row)
        self._append(text.getvalue(), "a row")
        self.existing_keys.add(row_key(row))
        self.rows_written += 1
        self.commit()

    def commit(self) -> None:
        """The new run has measured something: drop the backup of the results it replaces."""
        if self._backups:
            self._drop_backups()

    def _append(self, text: str, what: str) -> None:
        fd = self._file.fileno()
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            data = memoryview(text.encode())
            while data:
                data = data[self._file.write(data) :]
            self._flush()
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)  # no torn row: the rows before it stay valid
            raise ResultsError(f"{self.path}: cannot write {what}: {e.strerror or e}") from None

    def _flush(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()
        if self._backups and not self.rows_written:
            # Nothing new was measured: the previous results were not replaced after all.
            with contextlib.suppress(OSError):
                self.path.unlink()
            self._restore()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_rows(path: str | os.PathLike) -> pd.DataFrame:
    """Read a results CSV, checking that it is convbench's and of a known schema.

    Returns a DataFrame with ``COLUMNS`` (``samples_s`` and ``cpu_samples_s`` as lists of floats,
    ``reason`` as str). Raises :class:`ResultsError` with a one-line message otherwise.
    """
    p = Path(path)
    if not p.is_file():
        raise ResultsError(f"{p}: no such results file")
    try:
        df = pd.read_csv(p, keep_default_na=False, na_values=[""], dtype={"reason": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ResultsError(f"{p}: not a convbench results CSV ({e})") from None
    missing = [c for c in ("schema", *ROW_KEY, "status") if c not in df.columns]
    if missing:
        raise ResultsError(
            f"{p}: not a convbench results CSV (missing columns: {', '.join(missing)})"
        )
    schemas = set(pd.to_numeric(df["schema"], errors="coerce").dropna().astype(int))
    unknown = schemas - KNOWN_SCHEMAS
    if unknown or (len(df) and not schemas):
        raise ResultsError(
            f"{p}: results schema {sorted(unknown) or '?'} is unknown to this convbench "
            f"(knows {sorted(KNOWN_SCHEMAS)}); upgrade convbench or re-run the sweep"
        )
    for c in COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    df = df[list(COLUMNS)].copy()
    df["reason"] = df["reason"].fillna("").astype(str)
    df["dtype"] = df["dtype"].astype(str)
    v1 = pd.to_numeric(df["schema"], errors="coerce") == 1
    df["allocator"] = df["allocator"].astype(object)
    df.loc[v1 & df["allocator"].isna(), "allocator"] = V1_ALLOCATOR
    df.loc[v1 & (df["status"] == "ok") & df["processes"].isna(), "processes"] = 1
    df["allocator"] = df["allocator"].fillna(DEFAULT_ALLOCATOR).astype(str)
    for c in SAMPLE_COLUMNS:
        try:
            df[c] = df[c].map(parse_samples)
        except ValueError as e:
            raise ResultsError(
                f"{p}: column {c!r} holds a value that is not a sample list ({e})"
            ) from None
    df["sample_process"] = df["sample_process"].map(lambda xs: [int(x) for x in xs])
    return df


def write_rows(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Write a table as :func:`read_rows` gives it back to a results CSV, atomically.

    ``read_rows(path)`` then equals ``df`` (floats are written in full, sample lists as the
    runner writes them). The file is replaced whole: the caller decides whether it may be.

    Raises
    ------
    ResultsError
        ``df`` has columns that are not :data:`COLUMNS`, or the file cannot be written.
    """
    target = Path(path)
    unknown = [c for c in df.columns if c not in COLUMNS]
    missing = [c for c in ("schema", *ROW_KEY, "status") if c not in df.columns]
    if unknown or missing:
        what = f"unknown columns {unknown}" if unknown else f"missing columns {missing}"
        raise ResultsError(f"{target}: cannot write these rows: {what}")
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    for record in df.to_dict("records"):
        row = {c: record.get(c) for c in COLUMNS}
        for c in SAMPLE_COLUMNS:
            if isinstance(row[c], (list, tuple, np.ndarray)):
                row[c] = format_samples(row[c])
        for c, value in row.items():  # as make_row: None and NaN are an empty field
            if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
                row[c] = ""
        writer.writerow(row)
    _replace_atomically(target, text.getvalue(), "cannot write", make_parent=True)
    return target


def _replace_atomically(target: Path, text: str, failure: str, make_parent: bool = False) -> None:
    """Write ``text`` to a pid-named temporary file, fsync it and rename it over ``target``: a
    reader sees the old file or the new one, never half of it. An OS error removes the temporary
    file and raises :class:`ResultsError` ``"<target>: <failure>: <error>"``."""
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        if make_parent:
            target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(target)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ResultsError(f"{target}: {failure}: {e.strerror or e}") from None


def write_meta(csv_path: str | os.PathLike, meta: Mapping[str, object]) -> Path:
    """Write the sidecar next to ``csv_path`` (atomically) and return its path.

    The sidecar carries ``meta_version`` (see the module's history).
    """
    target = meta_path(csv_path)
    body = {**dict(meta), "meta_version": META_VERSION}
    text = json.dumps(body, indent=2, sort_keys=True, default=str) + "\n"
    _replace_atomically(target, text, "cannot write the sidecar")
    return target


def read_meta(csv_path: str | os.PathLike) -> dict:
    """The sidecar of ``csv_path``, or ``{}`` when there is none (a bare CSV is still readable)."""
    p = meta_path(csv_path)
    if not p.is_file():
        return {}
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ResultsError(f"{p}: sidecar is not valid JSON ({e})") from None
